// The official `openai` Node SDK against the gateway, one case per run:
//   node openai_sdk.mjs BASE_URL KEY CASE
// Prints what it saw as JSON; tests/e2e/test_node_sdks.py asserts on it.

import { describeError, load, main, recordingFetch } from './lib.mjs';

const { OpenAI } = load('openai');
const { VERSION } = load('openai/version');
const { zodFunction, zodResponseFormat } = load('openai/helpers/zod');
const { z } = load('zod');

function client(base, key, log = []) {
  return new OpenAI({
    baseURL: `${base}/v1`,
    apiKey: key,
    maxRetries: 0,
    timeout: 20_000,
    fetch: recordingFetch(log),
  });
}

async function streamText(stream) {
  let text = '';
  let reasoning = '';
  let usage = null;
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta ?? {};
    text += delta.content ?? '';
    reasoning += delta.reasoning_content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, reasoning, usage };
}

await main({
  version: async () => ({ version: VERSION }),

  // chat.completions.create, streamed and not, and the SDK's stream helper, on `mock`.
  chat: async (base, key) => {
    const c = client(base, key);
    const messages = [{ role: 'user', content: '你好 from node' }];
    const plain = await c.chat.completions.create({ model: 'mock', messages });
    const streamed = await streamText(
      await c.chat.completions.create({
        model: 'mock',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const helper = await c.chat.completions.stream({ model: 'mock', messages }).finalChatCompletion();
    return {
      text: plain.choices[0].message.content,
      model: plain.model,
      finish_reason: plain.choices[0].finish_reason,
      usage: plain.usage,
      stream: streamed,
      helper_text: helper.choices[0].message.content,
    };
  },

  // The DashScope mock through the gateway: plain, streamed, and thinking (qwen-plus).
  dashscope: async (base, key) => {
    const c = client(base, key);
    const plain = await c.chat.completions.create({
      model: 'qwen-max',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const streamed = await streamText(
      await c.chat.completions.create({
        model: 'qwen-max',
        messages: [{ role: 'user', content: 'stream please' }],
        stream: true,
      }),
    );
    const thinking = await streamText(
      await c.chat.completions.create({
        model: 'qwen-plus',
        messages: [{ role: 'user', content: 'think' }],
        stream: true,
        enable_thinking: true,
      }),
    );
    return { text: plain.choices[0].message.content, model: plain.model, stream: streamed, thinking };
  },

  // The SDK asks for base64 by default and decodes it; the same vector as floats.
  embeddings: async (base, key) => {
    const log = [];
    const c = client(base, key, log);
    const decoded = await c.embeddings.create({ model: 'mock', input: ['hello node'], dimensions: 8 });
    const floats = await c.embeddings.create({
      model: 'mock',
      input: ['hello node'],
      dimensions: 8,
      encoding_format: 'float',
    });
    const raw = await c.embeddings.create({
      model: 'mock',
      input: ['hello node'],
      dimensions: 8,
      encoding_format: 'base64',
    });
    return {
      sent_encoding: log.map((r) => r.body?.encoding_format ?? null),
      decoded: decoded.data[0].embedding,
      floats: floats.data[0].embedding,
      raw_type: typeof raw.data[0].embedding,
    };
  },

  // chat.completions.parse with the SDK's zod helper, and JSON mode.
  parse: async (base, key) => {
    const log = [];
    const c = client(base, key, log);
    const Person = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()) });
    const r = await c.chat.completions.parse({
      model: 'mock',
      messages: [{ role: 'user', content: 'Ann' }],
      response_format: zodResponseFormat(Person, 'person'),
    });
    const json = await c.chat.completions.create({
      model: 'mock',
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_object' },
    });
    return {
      parsed: r.choices[0].message.parsed,
      sent_format: log[0].body.response_format.type,
      json_object: JSON.parse(json.choices[0].message.content),
    };
  },

  // The SDK's own tool loop (runTools with a zod function): on `mock`, and streamed on the
  // DashScope mock, which calls two tools with arguments in fragments.
  run_tools: async (base, key) => {
    const c = client(base, key);
    const calls = [];
    const tools = [
      zodFunction({
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: z.object({ city: z.string() }),
        function: ({ city }) => {
          calls.push(['get_weather', city]);
          return `sunny in ${city}`;
        },
      }),
      zodFunction({
        name: 'get_time',
        description: 'Time in a zone',
        parameters: z.object({ tz: z.string() }),
        function: ({ tz }) => {
          calls.push(['get_time', tz]);
          return `noon in ${tz}`;
        },
      }),
    ];
    const mock = await c.chat.completions
      .runTools({ model: 'mock', messages: [{ role: 'user', content: 'Paris' }], tools })
      .finalContent();
    const qwen = await c.chat.completions
      .runTools({ model: 'qwen-max', stream: true, messages: [{ role: 'user', content: 'Rome' }], tools })
      .finalContent();
    return { mock, qwen, calls };
  },

  // Errors as the SDK's exception classes.
  errors: async (base, key) => {
    const out = {};
    const started = Date.now();
    try {
      await client(base, 'sk-wrong').chat.completions.create({
        model: 'mock',
        messages: [{ role: 'user', content: 'x' }],
      });
    } catch (e) {
      out.wrong_key = describeError(e);
    }
    out.wrong_key_ms = Date.now() - started;
    try {
      await client(base, key).chat.completions.create({
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'x' }],
      });
    } catch (e) {
      out.unknown_model = describeError(e);
    }
    return out;
  },
});

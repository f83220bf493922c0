// The official `@anthropic-ai/sdk` Node SDK against the gateway's /v1/messages, one case per run:
//   node anthropic_sdk.mjs BASE_URL KEY CASE
// Prints what it saw as JSON; tests/e2e/test_node_sdks.py asserts on it.

import { describeError, load, main, recordingFetch } from './lib.mjs';

const { Anthropic } = load('@anthropic-ai/sdk');
const { VERSION } = load('@anthropic-ai/sdk/version');
const { zodOutputFormat } = load('@anthropic-ai/sdk/helpers/zod');
const { betaZodTool } = load('@anthropic-ai/sdk/helpers/beta/zod');
const { z } = load('zod');

function client(base, auth, log = []) {
  return new Anthropic({
    baseURL: base,
    ...auth,
    maxRetries: 0,
    timeout: 20_000,
    fetch: recordingFetch(log),
  });
}

const apiKey = (key) => ({ apiKey: key });

/** What the tool runner's requests carried and how each was answered. */
function turns(log) {
  return log.map((r) => ({
    thread: r.body?.thread ?? null,
    messages: r.body?.messages?.length ?? 0,
    tools: (r.body?.tools ?? []).map((t) => t.name),
    threads_beta: (r.anthropic_beta ?? '').includes('message-threads'),
    status: r.status,
    error_code: r.error?.error?.details?.error_code ?? null,
  }));
}

function weatherTool(calls) {
  return betaZodTool({
    name: 'get_weather',
    description: 'Weather for a city',
    inputSchema: z.object({ city: z.string() }),
    run: ({ city }) => {
      calls.push(city);
      return `sunny in ${city}`;
    },
  });
}

await main({
  version: async () => ({ version: VERSION }),

  // messages.create with a Claude model name (the `claude-*` alias), by x-api-key and by
  // Bearer token (what Claude Code's ANTHROPIC_AUTH_TOKEN sends).
  create: async (base, key) => {
    const out = {};
    for (const [name, auth] of [
      ['api_key', { apiKey: key }],
      ['auth_token', { authToken: key, apiKey: null }],
    ]) {
      const m = await client(base, auth).messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 100,
        system: [{ type: 'text', text: 'be brief', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'hello from node' }],
      });
      out[name] = { type: m.type, model: m.model, content: m.content, stop_reason: m.stop_reason, usage: m.usage };
    }
    return out;
  },

  // messages.stream with thinking on `mock`, and a plain stream from the DashScope mock.
  stream: async (base, key) => {
    const c = client(base, apiKey(key));
    const stream = c.messages.stream({
      model: 'mock',
      max_tokens: 200,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'count to three' }],
    });
    let text = '';
    stream.on('text', (t) => {
      text += t;
    });
    const final = await stream.finalMessage();
    const qwen = await c.messages
      .stream({ model: 'qwen-max', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    return {
      text,
      blocks: final.content.map((b) => b.type),
      thinking: final.content.find((b) => b.type === 'thinking')?.thinking,
      stop_reason: final.stop_reason,
      qwen_text: qwen.content.map((b) => b.text ?? '').join(''),
    };
  },

  // The SDK's tool runner with its defaults: message threads. The gateway keeps none, so a
  // `continue` is answered 404 thread_not_found and the SDK replays the whole history.
  tool_runner: async (base, key) => {
    const log = [];
    const calls = [];
    const runner = client(base, apiKey(key), log).beta.messages.toolRunner({
      model: 'mock',
      max_tokens: 200,
      tools: [weatherTool(calls)],
      messages: [{ role: 'user', content: 'Paris' }],
    });
    const replies = [];
    for await (const message of runner) {
      replies.push({ stop_reason: message.stop_reason, content: message.content });
    }
    // The same over a streamed loop on the DashScope mock (tool arguments in fragments).
    const streamLog = [];
    const streamCalls = [];
    const streamed = client(base, apiKey(key), streamLog).beta.messages.toolRunner({
      model: 'qwen-max',
      max_tokens: 200,
      stream: true,
      tools: [weatherTool(streamCalls)],
      messages: [{ role: 'user', content: 'Rome' }],
    });
    const streamReplies = [];
    for await (const stream of streamed) {
      const message = await stream.finalMessage();
      streamReplies.push({ stop_reason: message.stop_reason, content: message.content });
    }
    return {
      calls,
      replies,
      turns: turns(log),
      stream_calls: streamCalls,
      stream_replies: streamReplies,
      stream_turns: turns(streamLog),
    };
  },

  // messages.parse with the SDK's zod helper: `output_config.format` on the wire.
  parse: async (base, key) => {
    const log = [];
    const Person = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()) });
    const m = await client(base, apiKey(key), log).messages.parse({
      model: 'mock',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Ann' }],
      output_config: { format: zodOutputFormat(Person) },
    });
    return {
      parsed: m.parsed_output,
      text: m.content.find((b) => b.type === 'text')?.text,
      sent_format: log[0].body.output_config.format.type,
    };
  },

  errors: async (base, key) => {
    const out = {};
    const started = Date.now();
    try {
      await client(base, apiKey('sk-wrong')).messages.create({
        model: 'mock',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      });
    } catch (e) {
      out.wrong_key = describeError(e);
    }
    out.wrong_key_ms = Date.now() - started;
    try {
      await client(base, apiKey(key)).messages.create({
        model: 'no-such-model',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      });
    } catch (e) {
      out.unknown_model = describeError(e);
    }
    return out;
  },
});

//! Which variable names the gateway may read: every `os.environ/NAME` in the config text,
//! plus the variables providers and auth read by name. Used by `secrets list` and the
//! start-up log of where each one came from.

use super::store::check_name;
use crate::config::env_reference;

/// Variables read by name (not only through `os.environ/` references).
pub const KNOWN_VARIABLES: &[&str] = &[
    "LITELLM_MASTER_KEY",
    "AZURE_API_KEY",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "DASHSCOPE_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_AI_API_KEY",
    "GEMINI_API_KEY",
    "VERTEX_PROJECT",
    "VERTEX_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_PROXY",
    "GEMINI_PROXY",
    "QWEN_PROXY",
    "ANTHROPIC_PROXY",
    "AZURE_AI_PROXY",
    "GEMINI_API_PROXY",
];

/// The `NAME`s of `os.environ/NAME` in YAML text, in order of first appearance.
pub fn referenced(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        // YAML comments mention `os.environ/NAME` as documentation.
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => continue,
            None => line,
        };
        for (i, _) in line.match_indices("os.environ/") {
            let token: String = line[i..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ',' | '}' | ']'))
                .collect();
            if let Some(name) = env_reference(&token)
                && check_name(name).is_ok()
                && !out.iter().any(|n| n == name)
            {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// Referenced names followed by the known ones not already listed.
pub fn relevant(text: &str) -> Vec<String> {
    let mut names = referenced(text);
    for k in KNOWN_VARIABLES {
        if !names.iter().any(|n| n == k) {
            names.push((*k).to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_once_in_order() {
        let text = "# see `os.environ/NAME`\na: os.environ/AZURE_API_BASE\nb: \"os.environ/DASHSCOPE_API_KEY\"\nc: os.environ/AZURE_API_BASE # again\n";
        assert_eq!(referenced(text), ["AZURE_API_BASE", "DASHSCOPE_API_KEY"]);
        assert_eq!(
            relevant(text)[..3],
            ["AZURE_API_BASE", "DASHSCOPE_API_KEY", "LITELLM_MASTER_KEY"]
        );
    }
}

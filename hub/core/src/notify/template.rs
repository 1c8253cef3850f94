//! Templates for the SMS and voice gateways: a URL, headers and a body with `{{placeholder}}`s,
//! so any provider's HTTP API fits without code. Parsed when saved (config load or admin API),
//! so a typo is refused with the reason then, not discovered when the first SOS is sent.

use serde::{Deserialize, Serialize};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = ["to", "text", "link", "incident", "event", "key", "post"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{{{name}}}}} at byte {at}; known: {known}")]
    Unknown {
        name: String,
        at: usize,
        known: String,
    },
    #[error("'{{{{' at byte {0} is never closed with '}}}}'")]
    Unclosed(usize),
    #[error("template is empty")]
    Empty,
}

/// How a value is escaped where it is put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    None,
    /// Inside a JSON string literal.
    Json,
    /// In a URL's query or path.
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(&'static str),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    source: String,
    #[serde(skip)]
    pieces: Vec<Piece>,
}

impl TryFrom<String> for Template {
    type Error = TemplateError;
    fn try_from(s: String) -> Result<Self, TemplateError> {
        Template::parse(&s)
    }
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.source
    }
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut pieces = vec![];
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + open))?;
            let name = after[..close].trim();
            let var = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| {
                TemplateError::Unknown {
                    name: name.to_string(),
                    at: offset + open,
                    known: PLACEHOLDERS.join(", "),
                }
            })?;
            pieces.push(Piece::Var(var));
            let used = open + 2 + close + 2;
            offset += used;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            pieces,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fills the placeholders from `value` (missing ones are empty), escaped as asked.
    pub fn render(&self, value: impl Fn(&str) -> Option<String>, escape: Escape) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => {
                    let s = value(v).unwrap_or_default();
                    match escape {
                        Escape::None => out.push_str(&s),
                        Escape::Json => {
                            let q = serde_json::to_string(&s).unwrap_or_default();
                            out.push_str(&q[1..q.len() - 1]);
                        }
                        Escape::Url => out.push_str(&url_encode(&s)),
                    }
                }
            }
        }
        out
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(k: &str) -> Option<String> {
        match k {
            "to" => Some("+86 138".into()),
            "text" => Some("求助 \"SOS\"\n".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_with_each_escape() {
        let t = Template::parse(r#"{"phone":"{{to}}","msg":"{{ text }}","x":"{{link}}"}"#).unwrap();
        let body = t.render(vals, Escape::Json);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["phone"], "+86 138");
        assert_eq!(v["msg"], "求助 \"SOS\"\n");
        assert_eq!(v["x"], "");
        let u = Template::parse("https://sms.example/send?to={{to}}").unwrap();
        assert_eq!(
            u.render(vals, Escape::Url),
            "https://sms.example/send?to=%2B86%20138"
        );
        assert_eq!(
            Template::parse("plain").unwrap().render(vals, Escape::None),
            "plain"
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let e = Template::parse("to={{phone}}").unwrap_err();
        assert!(matches!(&e, TemplateError::Unknown { name, at: 3, .. } if name == "phone"));
        assert!(e.to_string().contains("{{phone}}"), "{e}");
        assert!(e.to_string().contains("known: to, text"), "{e}");
        assert_eq!(
            Template::parse("a {{to").unwrap_err(),
            TemplateError::Unclosed(2)
        );
        assert_eq!(Template::parse("  ").unwrap_err(), TemplateError::Empty);
        // Through serde (config files) too.
        assert!(serde_json::from_str::<Template>("\"{{nope}}\"").is_err());
        let t: Template = serde_json::from_str("\"{{to}}\"").unwrap();
        assert_eq!(t.source(), "{{to}}");
    }
}

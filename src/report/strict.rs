//! A strict HTML parser for tests: every element closed in order (HTML void elements excepted; `/>`
//! only inside `<svg>`), attributes double-quoted and unique, no raw `<`, `>` or stray `&` in text or
//! values — well-formedness beyond what browsers forgive. The report's unit tests use it, and the
//! integration tests include this file with `#[path]` to check the pages the command line writes.

/// A parsed node.
#[derive(Debug)]
pub enum Node {
    /// An element.
    El(El),
    /// Text, entities decoded.
    Text(String),
}

/// An element with its attributes (values decoded) and children.
#[derive(Debug, Default)]
pub struct El {
    /// Tag name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes.
    pub children: Vec<Node>,
}

impl El {
    /// The value of attribute `k`.
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the element and its descendants.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in &self.children {
            match c {
                Node::Text(t) => s.push_str(t),
                Node::El(e) => s.push_str(&e.text()),
            }
        }
        s
    }

    /// Every descendant matching `pred`, in document order, appended to `out`.
    pub fn find<'a>(&'a self, pred: &dyn Fn(&El) -> bool, out: &mut Vec<&'a El>) {
        for c in &self.children {
            if let Node::El(e) = c {
                if pred(e) {
                    out.push(e);
                }
                e.find(pred, out);
            }
        }
    }

    /// Every descendant element named `name`.
    pub fn all(&self, name: &str) -> Vec<&El> {
        let mut v = Vec::new();
        self.find(&|e| e.name == name, &mut v);
        v
    }
}

const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "col"];

fn unescape(s: &str, at: usize) -> Result<String, String> {
    if s.contains('<') || s.contains('>') {
        return Err(format!("raw < or > in text near byte {at}"));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let end = rest[p..]
            .find(';')
            .ok_or(format!("bare & near byte {at}"))?;
        let ent = &rest[p + 1..p + end];
        out.push(match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "#39" => '\'',
            _ => return Err(format!("unknown entity &{ent}; near byte {at}")),
        });
        rest = &rest[p + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A start tag's name, attributes and whether it ends in `/>`.
type Tag = (String, Vec<(String, String)>, bool);

fn parse_tag(tag: &str, at: usize) -> Result<Tag, String> {
    let self_closing = tag.ends_with('/');
    let body = tag.trim_end_matches('/');
    let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let name = body[..name_end].to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("bad tag name {name:?} at byte {at}"));
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut rest = body[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or(format!("attribute without value in <{name}> at byte {at}"))?;
        let key = rest[..eq].to_string();
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad attribute name {key:?} at byte {at}"));
        }
        let after = &rest[eq + 1..];
        if !after.starts_with('"') {
            return Err(format!("unquoted value of {key} at byte {at}"));
        }
        let close = after[1..]
            .find('"')
            .ok_or(format!("unterminated {key} at byte {at}"))?;
        let value = unescape(&after[1..1 + close], at)?;
        if attrs.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate attribute {key} at byte {at}"));
        }
        attrs.push((key, value));
        rest = after[close + 2..].trim_start();
    }
    Ok((name, attrs, self_closing))
}

/// Parses a page that starts with `<!DOCTYPE html>` and a newline; the error names the first
/// violation and its byte offset.
pub fn parse_strict(html: &str) -> Result<El, String> {
    let html = html
        .strip_prefix("<!DOCTYPE html>\n")
        .ok_or("missing <!DOCTYPE html>")?;
    let mut stack = vec![El {
        name: "#root".into(),
        ..El::default()
    }];
    let mut i = 0;
    while i < html.len() {
        let Some(off) = html[i..].find('<') else {
            let t = unescape(&html[i..], i)?;
            stack.last_mut().unwrap().children.push(Node::Text(t));
            break;
        };
        if off > 0 {
            let t = unescape(&html[i..i + off], i)?;
            stack.last_mut().unwrap().children.push(Node::Text(t));
        }
        let start = i + off;
        let end = start + html[start..].find('>').ok_or("unterminated tag")?;
        let tag = &html[start + 1..end];
        i = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            let el = stack.pop().ok_or("close without open")?;
            if el.name != name || stack.is_empty() {
                return Err(format!("</{name}> closes <{}> at byte {start}", el.name));
            }
            stack.last_mut().unwrap().children.push(Node::El(el));
            continue;
        }
        let (name, attrs, self_closing) = parse_tag(tag, start)?;
        let in_svg = stack.iter().any(|e| e.name == "svg");
        if self_closing && !in_svg {
            return Err(format!(
                "self-closing <{name}/> outside svg at byte {start}"
            ));
        }
        let mut el = El {
            name: name.clone(),
            attrs,
            children: Vec::new(),
        };
        if self_closing || VOID.contains(&name.as_str()) {
            stack.last_mut().unwrap().children.push(Node::El(el));
        } else if name == "style" {
            let close = html[i..].find("</style>").ok_or("unterminated <style>")?;
            el.children.push(Node::Text(html[i..i + close].to_string()));
            stack.last_mut().unwrap().children.push(Node::El(el));
            i += close + "</style>".len();
        } else {
            stack.push(el);
        }
    }
    if stack.len() != 1 {
        let open: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
        return Err(format!("unclosed elements at the end: {open:?}"));
    }
    Ok(stack.pop().unwrap())
}

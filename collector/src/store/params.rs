//! Server-side query parameters. Values travel apart from the SQL text and the engine binds
//! them to `{name:Type}` placeholders, so nothing a user sends is ever spliced into SQL.

/// A value that can be bound to a `{name:Type}` placeholder. The text is what ClickHouse's
/// HTTP interface expects in `param_<name>`: the "escaped" text form of the value.
pub trait ParamValue {
    fn to_param(&self) -> String;
}

impl ParamValue for str {
    fn to_param(&self) -> String {
        escape(self)
    }
}
impl ParamValue for String {
    fn to_param(&self) -> String {
        escape(self)
    }
}
impl<T: ParamValue + ?Sized> ParamValue for &T {
    fn to_param(&self) -> String {
        (**self).to_param()
    }
}
macro_rules! numeric_param {
    ($($t:ty),*) => {$(impl ParamValue for $t { fn to_param(&self) -> String { self.to_string() } })*};
}
numeric_param!(u8, u16, u32, u64, i8, i16, i32, i64, f64, usize);
impl ParamValue for bool {
    fn to_param(&self) -> String {
        if *self { "true" } else { "false" }.to_string()
    }
}
impl<T: AsRef<str>> ParamValue for [T] {
    /// An `Array(String)`: `['a','b']`, each element quoted with `\` and `'` escaped.
    fn to_param(&self) -> String {
        let items: Vec<String> = self
            .iter()
            .map(|s| format!("'{}'", escape(s.as_ref()).replace('\'', "\\'")))
            .collect();
        format!("[{}]", items.join(","))
    }
}
impl<T: AsRef<str>> ParamValue for Vec<T> {
    fn to_param(&self) -> String {
        self.as_slice().to_param()
    }
}

/// ClickHouse parses parameter values in its "escaped" text format: backslash sequences are
/// interpreted, so backslashes and control characters must be escaped to arrive unchanged.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// Named parameters for one statement.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds `name` bound to `value`; `name` must match `[A-Za-z_][A-Za-z0-9_]*`.
    pub fn with(mut self, name: &str, value: impl ParamValue) -> Params {
        self.push(name, value);
        self
    }

    pub fn push(&mut self, name: &str, value: impl ParamValue) {
        debug_assert!(is_valid_name(name), "invalid parameter name {name:?}");
        self.0.push((name.to_string(), value.to_param()));
    }

    /// Adds an already-encoded value (from an analyst's request body).
    pub fn push_raw(&mut self, name: &str, encoded: String) {
        self.0.push((name.to_string(), encoded));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_backslashes_and_controls() {
        assert_eq!("a\\b\tc\nd'e".to_param(), "a\\\\b\\tc\\nd'e");
    }

    #[test]
    fn arrays_quote_each_element() {
        assert_eq!(vec!["a", "b'c\\"].to_param(), "['a','b\\'c\\\\']");
    }

    #[test]
    fn names_are_identifiers() {
        assert!(is_valid_name("site_1"));
        assert!(!is_valid_name("1x"));
        assert!(!is_valid_name("a-b"));
    }
}

//! The allow-list over a statement as ClickHouse's own parser sees it: the text dump of
//! `EXPLAIN AST`, read back into nodes and checked node by node. Pure functions, so the policy
//! is tested (and fuzzed) without the engine.
//!
//! The dump prints identifiers unescaped, so a name holding a newline can print lines of its
//! own. Two things keep that harmless: the tree must be consistent (every node has exactly the
//! children it declares, which injected lines break), and every rule below looks at one line
//! at a time — injected text can add lines but never hide a real one, and each line, real or
//! not, must pass on its own.

use super::functions;
use crate::store::is_valid_name;

/// One node of the dump: `<depth spaces><Kind> <text> (children N)`.
#[derive(Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub depth: usize,
    pub kind: &'a str,
    /// What follows the kind, without the children count: a name, a literal, `(alias x)`.
    pub text: &'a str,
    pub children: usize,
}

/// Why a statement may not run. The message is shown to the analyst as is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the statement could not be checked: {0}")]
    Unreadable(String),
    #[error("only one SELECT statement may run (WITH, UNION, JOIN and subqueries are fine)")]
    NotSelect,
    #[error("SETTINGS is not allowed in analyst SQL: the limits are fixed by the server")]
    Settings,
    #[error("{0} is not allowed in analyst SQL")]
    Construct(String),
    #[error("table {0:?} is not in the analyst schema: only events, sessions and goals (and names defined with WITH) can be read")]
    Table(String),
    #[error("{0:?} names a database: only events, sessions and goals can be read, unqualified")]
    Database(String),
    #[error("function {0:?} is not allowed in analyst SQL")]
    Function(String),
}

/// Reads the dump back into nodes and checks that the tree is consistent.
pub fn parse(dump: &str) -> Result<Vec<Node<'_>>, Refusal> {
    let mut nodes = Vec::new();
    for line in dump.lines() {
        let body = line.trim_start_matches(' ');
        let depth = line.len() - body.len();
        let kind_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '_'))
            .unwrap_or(body.len());
        let (kind, rest) = body.split_at(kind_len);
        if kind.is_empty() || !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(Refusal::Unreadable(format!("unexpected line {line:?}")));
        }
        let (text, children) = match rest.strip_suffix(')').and_then(|r| {
            let (head, n) = r.rsplit_once(" (children ")?;
            Some((head, n.parse::<usize>().ok()?))
        }) {
            Some((head, n)) => (head, n),
            None => (rest, 0),
        };
        if !text.is_empty() && !text.starts_with(' ') {
            return Err(Refusal::Unreadable(format!("unexpected line {line:?}")));
        }
        nodes.push(Node {
            depth,
            kind,
            text: text.trim_start_matches(' '),
            children,
        });
    }
    check_shape(&nodes)?;
    Ok(nodes)
}

/// Every node has exactly the children it declares, at one level deeper; one root.
fn check_shape(nodes: &[Node<'_>]) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal::Unreadable(why.to_string()));
    match nodes.first() {
        None => return bad("empty syntax tree"),
        Some(n) if n.depth != 0 => return bad("the tree does not start at its root"),
        _ => {}
    }
    // Open nodes: (depth, children still expected).
    let mut open: Vec<(usize, usize)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        while let Some(&(depth, _)) = open.last() {
            if n.depth > depth {
                break;
            }
            match open.pop() {
                Some((_, 0)) => {}
                _ => return bad("a node has fewer children than it declares"),
            }
        }
        match open.last_mut() {
            None if i > 0 => return bad("more than one root"),
            None => {}
            Some((depth, expected)) => {
                if n.depth != *depth + 1 {
                    return bad("a node is nested deeper than its parent allows");
                }
                if *expected == 0 {
                    return bad("a node has more children than it declares");
                }
                *expected -= 1;
            }
        }
        open.push((n.depth, n.children));
    }
    if open.iter().any(|&(_, expected)| expected != 0) {
        return bad("a node has fewer children than it declares");
    }
    Ok(())
}

/// Node kinds a SELECT may contain. Anything else (and any kind a later ClickHouse adds) is
/// refused until someone has looked at it.
const KINDS: &[&str] = &[
    "SelectWithUnionQuery",
    "SelectIntersectExceptQuery",
    "SelectQuery",
    "ExpressionList",
    "TablesInSelectQuery",
    "TablesInSelectQueryElement",
    "TableExpression",
    "TableJoin",
    "ArrayJoin",
    "TableIdentifier",
    "Identifier",
    "Literal",
    "Function",
    "Asterisk",
    "QualifiedAsterisk",
    "ColumnsRegexpMatcher",
    "ColumnsListMatcher",
    "QualifiedColumnsRegexpMatcher",
    "QualifiedColumnsListMatcher",
    "ColumnsTransformerList",
    "ColumnsExceptTransformer",
    "ColumnsReplaceTransformer",
    "ColumnsReplaceTransformer::Replacement",
    "OrderByElement",
    "InterpolateElement",
    "WithElement",
    "Subquery",
    "WindowListElement",
    "WindowDefinition",
    "SampleRatio",
];

/// Leaves: a name or a value, never a subtree (a parameterised identifier would have one).
const LEAVES: &[&str] = &["TableIdentifier", "Identifier", "Literal"];

/// The name a node carries, without its `(alias ...)`.
fn name_of(text: &str) -> &str {
    match text.find(" (alias ") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Checks every node of a parsed statement. `databases` are the names of every database the
/// engine has: an identifier that names one is refused wherever it appears (`x IN db.t`).
pub fn check(nodes: &[Node<'_>], databases: &[String]) -> Result<(), Refusal> {
    match nodes.first().map(|n| n.kind) {
        Some("SelectWithUnionQuery") | Some("SelectIntersectExceptQuery") => {}
        _ => return Err(Refusal::NotSelect),
    }
    for n in nodes {
        match n.kind {
            "Set" => return Err(Refusal::Settings),
            "ColumnsApplyTransformer" => {
                return Err(Refusal::Construct(
                    "APPLY (a function chosen by name)".into(),
                ))
            }
            k if !KINDS.contains(&k) => return Err(Refusal::Construct(k.to_string())),
            _ => {}
        }
        if LEAVES.contains(&n.kind) && n.children != 0 {
            return Err(Refusal::Construct(format!("{} with a subtree", n.kind)));
        }
        match n.kind {
            "TableIdentifier" => {
                let name = name_of(n.text);
                // `system.one` is what the parser itself reads for a SELECT without FROM.
                if !(is_valid_name(name) || name == "system.one") {
                    return Err(Refusal::Table(name.to_string()));
                }
            }
            "Identifier" => {
                let name = name_of(n.text);
                if let Some(db) = name
                    .split('.')
                    .find(|part| databases.iter().any(|d| d.eq_ignore_ascii_case(part)))
                {
                    return Err(Refusal::Database(db.to_string()));
                }
            }
            "Function" => {
                let name = name_of(n.text);
                if !functions::allowed(name) {
                    return Err(Refusal::Function(name.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DBS: &[&str] = &["default", "system", "INFORMATION_SCHEMA", "default_analyst"];

    fn verdict(dump: &str) -> Result<(), Refusal> {
        let dbs: Vec<String> = DBS.iter().map(|s| s.to_string()).collect();
        check(&parse(dump)?, &dbs)
    }

    const OK: &str = "SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 2)
    Identifier site
    Function count (alias c) (children 1)
     ExpressionList
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier events (alias e)";

    #[test]
    fn a_plain_select_passes() {
        assert_eq!(verdict(OK), Ok(()));
        let nodes = parse(OK).unwrap();
        assert_eq!(nodes.len(), 11);
        assert_eq!(
            nodes[5],
            Node {
                depth: 4,
                kind: "Function",
                text: "count (alias c)",
                children: 1
            }
        );
    }

    #[test]
    fn internal_tables_databases_and_table_functions_are_refused() {
        let salts = OK.replace("TableIdentifier events", "TableIdentifier default.salts");
        assert_eq!(verdict(&salts), Err(Refusal::Table("default.salts".into())));
        let path = OK.replace("TableIdentifier events", "TableIdentifier /etc/passwd");
        assert!(matches!(verdict(&path), Err(Refusal::Table(_))));
        let in_db = OK.replace("Identifier site", "Identifier system.tables");
        assert_eq!(verdict(&in_db), Err(Refusal::Database("system".into())));
        let func = OK.replace("Function count", "Function file");
        assert_eq!(verdict(&func), Err(Refusal::Function("file".into())));
        let settings = OK.replace(
            "  SelectQuery (children 2)",
            "  SelectQuery (children 3)\n   Set",
        );
        assert_eq!(verdict(&settings), Err(Refusal::Settings));
    }

    #[test]
    fn lines_injected_through_a_name_break_the_tree() {
        // `SELECT \`a\n    TableIdentifier events\` ...`: the name prints a line of its own.
        let injected = OK.replace(
            "    Identifier site",
            "    Identifier a\n    TableIdentifier events",
        );
        assert!(matches!(verdict(&injected), Err(Refusal::Unreadable(_))));
        let leaf_with_children = OK.replace(
            "    Identifier site",
            "    Identifier x (children 1)\n     Literal 1",
        );
        assert!(matches!(
            verdict(&leaf_with_children),
            Err(Refusal::Unreadable(_)) | Err(Refusal::Construct(_))
        ));
        assert!(matches!(verdict("b\nc"), Err(Refusal::Unreadable(_))));
        assert!(matches!(verdict(""), Err(Refusal::Unreadable(_))));
    }

    #[test]
    fn only_select_roots_pass() {
        assert_eq!(verdict("KillQueryQuery"), Err(Refusal::NotSelect));
    }
}

//! The crate's import structure, checked: no file of `src/` imports, directly or through
//! others, a file that imports it back, and no module imports one of a higher layer.
//!
//! The layers, bottom up (a module may use its own layer and those below):
//!
//! | layer | modules |
//! |---|---|
//! | 0 | `sys`, `util`, `func`, `logging`, `deadline`, `error`, `codec`, `wait` |
//! | 1 | `handle`, `service` |
//! | 2 | `shm` |
//! | 3 | `sync` |
//! | 4 | `shared` |
//! | 5 | `queue`, `connection` |
//! | 6 | `process` |
//! | 7 | `pool`, `manager` |
//! | 8 | `context` |
//! | 9 | `lib.rs`, `fuzzing` (the fuzz targets' entry points) |
//!
//! An import is any `crate::`, `super::` or `self::` path in a file's code (comments and the
//! `#[cfg(test)]` module at the end of a file are left out: tests may use anything). Run it
//! alone with `cargo test --test architecture -- --nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u32)] = &[
    ("sys", 0),
    ("util", 0),
    ("func", 0),
    ("logging", 0),
    ("deadline", 0),
    ("error", 0),
    ("codec", 0),
    ("wait", 0),
    ("handle", 1),
    ("service", 1),
    ("shm", 2),
    ("sync", 3),
    ("shared", 4),
    ("queue", 5),
    ("connection", 5),
    ("process", 6),
    ("pool", 7),
    ("manager", 7),
    ("context", 8),
    ("fuzzing", 9),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as its module path (`["process", "start", "fork"]`;
/// `mod.rs` files name their folder, `lib.rs` is the empty path).
fn files(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            files(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut p = prefix.to_vec();
            if stem != "mod" && stem != "lib" {
                p.push(stem.to_string());
            }
            out.insert(p, path);
        }
    }
}

/// The code of a file without comments, string and character literals, and without its
/// trailing `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    strip(text)
}

/// `text` with comments and literals replaced by spaces (so nothing in them looks like code).
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && (i == 0 || !b[i - 1].is_alphanumeric()) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == '"' {
                j += 1;
                'raw: while j < b.len() {
                    if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break 'raw;
                    }
                    j += 1;
                }
                out.push(' ');
                i = j;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && (next == Some('\\') || b.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''); a lifetime ('a) is left alone.
            i += if next == Some('\\') { 2 } else { 1 };
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The path segments that follow each `crate::`, `super::` or `self::` in `code`, resolved
/// to absolute module paths (braces in `use` lists are expanded one level).
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `super` is the parent of the file's own module, for mod.rs and other files alike.
    let base: Vec<String> = module.to_vec();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let at = |kw: &str| code[i..].starts_with(kw) && (i == 0 || !ident(bytes[i - 1]));
        let (mut path, skip) = if at("crate::") {
            (Vec::new(), "crate::".len())
        } else if at("super::") {
            let mut p = base.clone();
            p.pop();
            let mut j = i + "super::".len();
            while code[j..].starts_with("super::") {
                p.pop();
                j += "super::".len();
            }
            i = j;
            (p, 0)
        } else if at("self::") {
            (base.clone(), "self::".len())
        } else {
            i += 1;
            continue;
        };
        i += skip;
        // Read `a::b::c` or `a::{b, c}`.
        loop {
            let start = i;
            while i < bytes.len() && ident(bytes[i]) {
                i += 1;
            }
            if i > start {
                path.push(code[start..i].to_string());
            }
            let brace = if code[i..].starts_with("::{") {
                Some(i + 3)
            } else if code[i..].starts_with('{') {
                Some(i + 1)
            } else {
                None
            };
            if let Some(open) = brace {
                let end = code[i..].find('}').map(|e| i + e).unwrap_or(bytes.len());
                for item in code[open..end].split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim().to_string();
                    if !first.is_empty() && first.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        let mut p = path.clone();
                        p.push(first);
                        out.push(p);
                    }
                }
                i = end;
                break;
            }
            if code[i..].starts_with("::") {
                i += 2;
                continue;
            }
            out.push(path.clone());
            break;
        }
    }
    out
}

/// The names a file's `use` declarations bring in, each with the absolute path it stands for
/// (only paths into this crate: `crate::`, `super::`, `self::`).
fn aliases(module: &[String], code: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let stmt_start = i + 4;
        let Some(end) = rest[stmt_start..].find(';') else { break };
        let stmt = &rest[stmt_start..stmt_start + end];
        if before.is_none_or(|c| c.is_whitespace() || c == ')' || c == '{') {
            let stmt: String = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
            use_tree(module, &[], &stmt, &mut out);
        }
        rest = &rest[stmt_start + end..];
    }
    out
}

/// Expands one use-tree (`a::b::{c, d as e, f::{g}}`) under `prefix`.
fn use_tree(module: &[String], prefix: &[String], tree: &str, out: &mut BTreeMap<String, Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::");
        let mut p = prefix.to_vec();
        p.extend(head.split("::").filter(|x| !x.is_empty()).map(str::to_string));
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        // Split on commas outside nested braces.
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(module, &p, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        use_tree(module, &p, &inner[start..], out);
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p.trim(), Some(a.trim())),
        None => (tree, None),
    };
    let mut p = prefix.to_vec();
    p.extend(path.split("::").filter(|x| !x.is_empty()).map(str::to_string));
    let Some(last) = p.last().cloned() else { return };
    let name = alias.map(str::to_string).unwrap_or(if last == "self" { p[p.len() - 2].clone() } else { last });
    if p.last().is_some_and(|l| l == "self") {
        p.pop();
    }
    if name == "*" || name == "_" {
        return;
    }
    if let Some(abs) = absolute(module, &p) {
        out.insert(name, abs);
    }
}

/// A path as written in `module` made absolute; `None` for paths outside the crate.
fn absolute(module: &[String], p: &[String]) -> Option<Vec<String>> {
    let mut it = p.iter().peekable();
    let mut base = match it.peek().map(|s| s.as_str()) {
        Some("crate") => {
            it.next();
            Vec::new()
        }
        Some("super") => module.to_vec(),
        Some("self") => {
            it.next();
            module.to_vec()
        }
        _ => return None,
    };
    while it.peek().is_some_and(|s| *s == "super") {
        it.next();
        base.pop();
    }
    base.extend(it.cloned());
    Some(base)
}

type Files = BTreeMap<Vec<String>, PathBuf>;
type Aliases = BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>;

/// The file a module path lands in: the longest prefix that is a file, following the names
/// that file re-exports or imports (a path through a `mod.rs` facade lands where the item is
/// defined, not in the facade).
fn resolve(path: &[String], known: &Files, uses: &Aliases) -> Option<Vec<String>> {
    let mut path = path.to_vec();
    for _ in 0..16 {
        let file = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains_key(p))?;
        let Some(next) = path.get(file.len()) else { return Some(file) };
        match uses.get(&file).and_then(|a| a.get(next)) {
            Some(target) if target != &path[..file.len() + 1] => {
                let mut p = target.clone();
                p.extend(path[file.len() + 1..].iter().cloned());
                path = p;
            }
            _ => return Some(file),
        }
    }
    None
}

fn layer(module: &[String]) -> u32 {
    match module.first() {
        None => 9,
        Some(top) => LAYERS
            .iter()
            .find(|(m, _)| m == top)
            .map(|(_, l)| *l)
            .unwrap_or_else(|| panic!("module `{top}` has no layer: add it to LAYERS in tests/architecture.rs")),
    }
}

fn name(m: &[String]) -> String {
    if m.is_empty() { "lib".to_string() } else { m.join("::") }
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut known = BTreeMap::new();
    files(&src(), &[], &mut known);
    let codes: BTreeMap<Vec<String>, String> = known.iter().map(|(m, p)| (m.clone(), code(p))).collect();
    let uses: Aliases = codes.iter().map(|(m, c)| (m.clone(), aliases(m, c))).collect();
    let mut g = BTreeMap::new();
    for (module, code) in &codes {
        let mut deps = BTreeSet::new();
        for r in references(module, code) {
            if let Some(target) = resolve(&r, &known, &uses)
                && &target != module
            {
                deps.insert(target);
            }
        }
        g.insert(module.clone(), deps);
    }
    g
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let g = graph();
    // Tarjan-free check: a depth-first search that reports the first back edge as a cycle.
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for d in &g[n] {
            match state.get(d).copied().unwrap_or(0) {
                0 => visit(d, g, state, stack, cycles),
                1 => {
                    let from = stack.iter().position(|x| x == d).unwrap();
                    let mut c: Vec<String> = stack[from..].iter().map(|m| name(m)).collect();
                    c.push(name(d));
                    cycles.push(c.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &g, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    for (m, deps) in &g {
        println!("{} -> {}", name(m), deps.iter().map(|d| name(d)).collect::<Vec<_>>().join(", "));
    }
    assert!(cycles.is_empty(), "import circles among src/ files:\n{}", cycles.join("\n"));
}

#[test]
fn no_module_imports_a_higher_layer() {
    let g = graph();
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        for d in deps {
            if layer(d) > layer(m) {
                wrong.push(format!("{} (layer {}) -> {} (layer {})", name(m), layer(m), name(d), layer(d)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports from a lower layer to a higher one:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // The checker itself: a file with known imports resolves to the files they name.
    assert_eq!(strip("a \"use x::{\" r#\"crate::y\"# '{' 'a // super::z\nb"), "a       'a \nb");
    let v = |s: &str| s.split("::").filter(|x| !x.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let known: Files = [v(""), v("a"), v("a::b"), v("a::d")].into_iter().map(|m| (m, PathBuf::new())).collect();
    // `a/mod.rs` re-exports `D` from `a::d`: a path through the facade lands in `a::d`.
    let uses: Aliases = [(v("a"), aliases(&v("a"), "pub use self::d::{D, E as F};"))].into_iter().collect();
    let refs = references(&v("a::c"), "use super::b::X;\nuse crate::{a, x};\nself::y();\nsuper::F::new()");
    let resolved: Vec<_> = refs.iter().filter_map(|r| resolve(r, &known, &uses)).collect();
    assert!(resolved.contains(&v("a::b")), "{resolved:?}");
    assert!(resolved.contains(&v("a")), "{resolved:?}");
    assert!(resolved.contains(&v("a::d")), "{resolved:?}");
    let g = graph();
    let process = vec!["process".to_string(), "process".to_string()];
    assert!(g[&process].contains(&vec!["process".to_string(), "globals".to_string()]), "{:?}", g[&process]);
}

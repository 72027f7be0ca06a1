//! The layer rule, checked on the sources (a `.ci/run` step through `cargo
//! test`):
//!
//! - a module never imports from a layer above its own (protocol → session →
//!   query → storage → wal/codec, with the leaf modules below them all);
//! - no two files import each other, nor form a longer circle.
//!
//! Every path in `src/` that names a module of the crate (`use` trees, and
//! paths in code) is resolved to the file that defines the item, following
//! re-exports, so a `mod.rs` that only re-exports is a facade and not a knot.
//! Test code (`#[test]` and `#[cfg(test)]` items, test files) is not counted.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The layers, top first. A module may use modules of the layers below its
/// own, and no other module of its own layer. The composition root
/// (`lib.rs`, `config`, `db`, `server`) may use everything.
const LAYERS: &[&[&str]] = &[
    &["config", "db", "server"],
    &["protocol", "http", "lp_tcp"],
    &["session"],
    &["query"],
    &["storage"],
    &["wal", "codec"],
    &["password", "pgtype", "line_protocol"],
];

#[test]
fn no_module_imports_from_above_and_no_files_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&root);
    assert!(
        graph.edges.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the checker found almost no imports: it is broken"
    );
    let problems = graph.problems();
    assert!(
        problems.is_empty(),
        "layer rule broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_finds_an_upward_import_and_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("lib.rs", "pub mod storage;\npub mod query;\n"),
        (
            "storage/mod.rs",
            "mod a;\nmod b;\npub use a::A;\n#[cfg(test)]\nmod tests;\n",
        ),
        (
            "storage/a.rs",
            "use super::b::B;\npub struct A(B);\npub fn up() { crate::query::run(); }\n",
        ),
        ("storage/b.rs", "pub struct B;\nfn f(_: super::a::A) {}\n"),
        ("storage/tests.rs", "use crate::query::run;\n"),
        ("query.rs", "use crate::storage::A;\npub fn run() {}\n"),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let graph = Graph::read(dir.path());
    let problems = graph.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("storage/a.rs") && p.contains("query")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("storage/a.rs") && p.contains("storage/b.rs")),
        "{problems:?}"
    );
    // The facade resolves `crate::storage::A` to storage/a.rs; test files are
    // free to reach up.
    assert!(
        graph.edges[&PathBuf::from("query.rs")].contains(&PathBuf::from("storage/a.rs")),
        "{:?}",
        graph.edges
    );
    assert!(
        !problems.iter().any(|p| p.contains("tests.rs")),
        "{problems:?}"
    );
}

/// A module of the crate: its file, its child modules, and what it imports
/// under which name (for following re-exports).
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    children: BTreeSet<String>,
    /// `use` items: the name they bind → the absolute path they name.
    imports: HashMap<String, Vec<String>>,
    /// `use x::*` items: the absolute paths of the modules they open.
    globs: Vec<Vec<String>>,
    /// Names of the items defined here.
    defined: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Graph {
    modules: BTreeMap<Vec<String>, Module>,
    /// Paths each file names, with the module they appear in.
    references: Vec<(PathBuf, Vec<String>)>,
    /// file → files it imports from.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl Graph {
    fn read(root: &Path) -> Self {
        let mut graph = Graph::default();
        graph.load(root, Path::new("lib.rs"), Vec::new(), false);
        let references = std::mem::take(&mut graph.references);
        for (file, path) in references {
            if let Some(target) = graph.resolve(&path)
                && target != file
            {
                graph.edges.entry(file).or_default().insert(target);
            }
        }
        graph
    }

    /// Parses the file of module `path` and the files of its children.
    fn load(&mut self, root: &Path, file: &Path, path: Vec<String>, test_only: bool) {
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "mod.rs") => file.parent().unwrap().to_owned(),
            _ => file.with_extension(""),
        };
        self.items(root, file, &dir, path, &parsed.items, test_only);
    }

    fn items(
        &mut self,
        root: &Path,
        file: &Path,
        dir: &Path,
        path: Vec<String>,
        items: &[syn::Item],
        test_only: bool,
    ) {
        let mut module = Module {
            file: file.to_owned(),
            ..Module::default()
        };
        let mut children = Vec::new();
        for item in items {
            let item_test_only = test_only || is_test(item_attrs(item));
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    module.children.insert(name.clone());
                    children.push((name, m, item_test_only));
                    continue;
                }
                syn::Item::Use(u) => {
                    let mut flat = Vec::new();
                    flatten(&u.tree, Vec::new(), &mut flat);
                    for (segments, binding) in flat {
                        let absolute = absolute(&path, &module.children, &segments);
                        let Some(absolute) = absolute else { continue };
                        if !item_test_only {
                            self.references.push((file.to_owned(), absolute.clone()));
                        }
                        match binding {
                            Some(name) => {
                                module.imports.insert(name, absolute);
                            }
                            None => module.globs.push(absolute),
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(name) = item_name(item) {
                module.defined.insert(name);
            }
            if !item_test_only {
                let mut paths = Paths::default();
                paths.visit_item(item);
                for segments in paths.found {
                    if let Some(absolute) = absolute(&path, &module.children, &segments) {
                        self.references.push((file.to_owned(), absolute));
                    }
                }
            }
        }
        self.modules.insert(path.clone(), module);
        for (name, m, child_test_only) in children {
            let mut child_path = path.clone();
            child_path.push(name.clone());
            match &m.content {
                Some((_, inner)) => {
                    let inner_dir = dir.join(&name);
                    self.items(root, file, &inner_dir, child_path, inner, child_test_only);
                }
                None => {
                    let flat = dir.join(format!("{name}.rs"));
                    let nested = dir.join(&name).join("mod.rs");
                    let child_file = if root.join(&flat).exists() {
                        flat
                    } else {
                        nested
                    };
                    self.load(root, &child_file, child_path, child_test_only);
                }
            }
        }
    }

    /// The file that defines what `path` (absolute, from the crate root)
    /// names, following re-exports; `None` for paths outside the crate.
    fn resolve(&self, path: &[String]) -> Option<PathBuf> {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let (module_path, rest) = self.longest_module(&path)?;
            let module = &self.modules[&module_path];
            let Some(name) = rest.first() else {
                return Some(module.file.clone());
            };
            if module.defined.contains(name) {
                return Some(module.file.clone());
            }
            if let Some(target) = module.imports.get(name) {
                path = target.iter().chain(&rest[1..]).cloned().collect();
                continue;
            }
            let via_glob = module.globs.iter().find_map(|glob| {
                let mut candidate = glob.clone();
                candidate.extend(rest.iter().cloned());
                self.resolve(&candidate)
            });
            return via_glob.or_else(|| Some(module.file.clone()));
        }
        None
    }

    fn longest_module(&self, path: &[String]) -> Option<(Vec<String>, Vec<String>)> {
        (0..=path.len()).rev().find_map(|n| {
            let prefix = path[..n].to_vec();
            self.modules
                .contains_key(&prefix)
                .then(|| (prefix, path[n..].to_vec()))
        })
    }

    fn problems(&self) -> Vec<String> {
        let layer_of_file: HashMap<&Path, (usize, &str)> = self
            .modules
            .iter()
            .filter_map(|(path, module)| {
                let top = path.first()?;
                let layer = LAYERS.iter().position(|l| l.contains(&top.as_str()))?;
                Some((module.file.as_path(), (layer, top.as_str())))
            })
            .collect();
        let mut problems = Vec::new();
        for (from, targets) in &self.edges {
            let Some(&(from_layer, from_top)) = layer_of_file.get(from.as_path()) else {
                continue;
            };
            for to in targets {
                let Some(&(to_layer, to_top)) = layer_of_file.get(to.as_path()) else {
                    continue;
                };
                let upward = to_layer < from_layer;
                let sideways = to_layer == from_layer && to_top != from_top;
                if (upward || sideways) && from_layer > 0 {
                    problems.push(format!(
                        "{} ({from_top}) imports from {} ({to_top}), a layer {}",
                        from.display(),
                        to.display(),
                        if upward { "above it" } else { "beside it" }
                    ));
                }
            }
        }
        for circle in self.circles() {
            let members: BTreeSet<&PathBuf> = circle.iter().collect();
            let mut text = String::from("files that import each other, round a circle:");
            for file in &circle {
                let within: Vec<String> = self.edges[file]
                    .iter()
                    .filter(|to| members.contains(to))
                    .map(|to| to.display().to_string())
                    .collect();
                text.push_str(&format!("\n    {} → {}", file.display(), within.join(", ")));
            }
            problems.push(text);
        }
        problems
    }

    /// Strongly connected components of more than one file (Tarjan).
    fn circles(&self) -> Vec<Vec<PathBuf>> {
        struct State<'a> {
            edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
            index: HashMap<&'a Path, usize>,
            low: HashMap<&'a Path, usize>,
            stack: Vec<&'a Path>,
            on_stack: BTreeSet<&'a Path>,
            found: Vec<Vec<PathBuf>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a Path) {
            let n = s.index.len();
            s.index.insert(v, n);
            s.low.insert(v, n);
            s.stack.push(v);
            s.on_stack.insert(v);
            if let Some(targets) = s.edges.get(v) {
                for w in targets {
                    let w = w.as_path();
                    if !s.index.contains_key(w) {
                        visit(s, w);
                        let low = s.low[v].min(s.low[w]);
                        s.low.insert(v, low);
                    } else if s.on_stack.contains(w) {
                        let low = s.low[v].min(s.index[w]);
                        s.low.insert(v, low);
                    }
                }
            }
            if s.low[v] == s.index[v] {
                let mut component = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    s.found.push(component);
                }
            }
        }
        let mut state = State {
            edges: &self.edges,
            index: HashMap::new(),
            low: HashMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for file in self.edges.keys() {
            if !state.index.contains_key(file.as_path()) {
                visit(&mut state, file);
            }
        }
        state.found
    }
}

/// Every path named in an item's code: types, expressions, patterns, traits.
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.found
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Inline modules are read as modules of their own.
    }

    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    /// `pub(super)` and `pub(in path)` say who may see an item, not what it
    /// uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// `path` as seen from module `here`, made absolute; `None` when it starts
/// outside the crate (another crate, a local name, a generic parameter).
fn absolute(here: &[String], children: &BTreeSet<String>, path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut base = here.to_vec();
            base.pop()?;
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        name if children.contains(name) => {
            let mut base = here.to_vec();
            base.push(name.to_owned());
            base
        }
        _ => return None,
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The paths a `use` tree imports, each with the name it binds (`None` for
/// a glob).
fn flatten(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut prefix = prefix;
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                let binding = prefix.last().cloned();
                out.push((prefix, binding));
            } else {
                let mut path = prefix;
                path.push(name.clone());
                out.push((path, Some(name)));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix;
            let name = r.ident.to_string();
            if name != "self" {
                path.push(name);
            }
            out.push((path, Some(r.rename.to_string())));
        }
        syn::UseTree::Glob(_) => out.push((prefix, None)),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix.clone(), out);
            }
        }
    }
}

/// `#[test]` or `#[cfg(test)]`.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::Path(path) => path.is_ident("test"),
        syn::Meta::List(list) => list.path.is_ident("cfg") && list.tokens.to_string() == "test",
        syn::Meta::NameValue(_) => false,
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

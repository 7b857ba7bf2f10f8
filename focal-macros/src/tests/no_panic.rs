//! The macro never panics: random attribute arguments, mutated signatures (truncated, shuffled,
//! with tokens dropped, duplicated or replaced, odd types and names) and random token soup all
//! expand to code or to `compile_error!`s.

use std::panic::{catch_unwind, AssertUnwindSafe};

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

/// How many inputs the test tries (at least 10,000, as the issue asks).
const CASES: usize = 12_000;

/// xorshift64*: small, deterministic, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ATTR_KEYS: &[&str] = &[
    "name",
    "crate",
    "reduction",
    "nmae",
    "krate",
    "reduce",
    "default",
    "extra_reductions",
    "register",
    "backward",
    "fused",
    "r#crate",
    "self",
    "_",
];
const ATTR_VALUES: &[&str] = &[
    "Mse",
    "\"Mse\"",
    "\"my loss\"",
    "\"\"",
    "\"1abc\"",
    "\"Self\"",
    "self",
    "r#loop",
    "crate",
    "::my_focal",
    "my_focal::inner",
    "\"::my_focal\"",
    "\"::\"",
    "\"none\"",
    "\"mean\"",
    "\"sum\"",
    "\"avg\"",
    "1",
    "1.5",
    "true",
    "[1, 2]",
    "(a, b)",
    "|x| x",
    "0.0..",
    "Vec<f64>",
    "'a'",
    "b\"x\"",
    "<T as U>::V",
    "[\"batchmean\"]",
    "[\"mean\", \"x y\", 1]",
    "[]",
    "\"batchmean\"",
    "my_grad",
];
const TYPES: &[&str] = &[
    "&Tensor",
    "Tensor",
    "&mut Tensor",
    "& 'a Tensor",
    "&tch::Tensor",
    "&::tch::Tensor",
    "Option<&Tensor>",
    "Option<Tensor>",
    "Option<&mut Tensor>",
    "Option<Option<&Tensor>>",
    "Vec<Tensor>",
    "Reduction",
    "focal::Reduction",
    "Reduction<T>",
    "&Reduction",
    "f64",
    "f32",
    "i64",
    "bool",
    "usize",
    "Vec<f64>",
    "Option<Vec<f64>>",
    "[f64; 3]",
    "(f64, f64)",
    "()",
    "!",
    "_",
    "Self",
    "impl Fn(f64) -> f64",
    "dyn Fn()",
    "Box<dyn Fn()>",
    "fn(f64) -> f64",
    "*const f64",
    "&[f64]",
    "&str",
    "String",
    "T",
    "m!()",
    "<T as Tr>::X",
    "std::num::NonZeroU32",
    "Result<Tensor, LossError>",
    "Tensor<f64>",
    "Tensor::<>",
];
const RETURNS: &[&str] = &[
    "",
    "-> Tensor",
    "-> LossOutput",
    "-> Result<Tensor, LossError>",
    "-> Result<LossOutput, LossError>",
    "-> Result<Tensor>",
    "-> Result<Tensor, LossError, X>",
    "-> f64",
    "-> impl Trait",
    "-> !",
    "-> (Tensor,)",
    "-> focal::LossOutput",
    "-> Result<>",
    "-> Result<'a, Tensor>",
    "-> Self",
];
const NAMES: &[&str] = &[
    "input",
    "target",
    "gamma",
    "_gamma",
    "alpha",
    "reduction",
    "forward",
    "new",
    "validate",
    "name",
    "r#type",
    "r#loop",
    "_",
    "__",
    "_1",
    "x",
    "self",
    "NAME",
    "default",
    "clone",
    "with_gamma",
    "f_forward",
];
const FN_NAMES: &[&str] = &[
    "mse",
    "focal_loss",
    "r#loop",
    "__",
    "_1",
    "_",
    "a_1",
    "Mse",
    "x__y",
    "é",
    "_a_",
];
const QUALIFIERS: &[&str] = &[
    "",
    "pub",
    "pub(crate)",
    "const",
    "async",
    "unsafe",
    "extern \"C\"",
    "pub const unsafe",
    "default",
];
const PARAM_ATTRS: &[&str] = &[
    "",
    "#[hyper]",
    "#[hyper()]",
    "#[hyper(default = 2.0)]",
    "#[hyper(default = \"two\")]",
    "#[hyper(defualt = 2.0)]",
    "#[hyper(default = 1.0, default = 2.0)]",
    "#[hyper(check = 0.0..=1.0)]",
    "#[hyper(check = positive)]",
    "#[hyper(check)]",
    "#[hyper(default)]",
    "#[hyper(default =)]",
    "#[hyper(= 1)]",
    "#[hyper = 1]",
    "#[hyper(,,)]",
    "#[hyper(default = 1 2)]",
    "#[tensor(float)]",
    "#[tensor(float, integer, bool)]",
    "#[tensor(flaot)]",
    "#[tensor(float = 1)]",
    "#[tensor(same_shape_as = input)]",
    "#[tensor(same_shape_as = target)]",
    "#[tensor(same_shape_as = nothing)]",
    "#[tensor(same_shape_as = 1 + 1)]",
    "#[tensor(same_shape_as)]",
    "#[tensor(broadcastable_to = input)]",
    "#[tensor(broadcastable_to = input, per_sample)]",
    "#[tensor(per_sample = 1)]",
    "#[tensor(rank = 2, min_rank = 3)]",
    "#[tensor(min_rank = 3, max_rank = 1)]",
    "#[tensor(rank = 99999999999999999999)]",
    "#[tensor(rank = -1)]",
    "#[hyper(check = 0.0<..)]",
    "#[hyper(check = 0.0<..=1.0)]",
    "#[hyper(check = <..)]",
    "#[hyper(check = 0.0<..<..)]",
    "#[hyper(check = a < b .. c)]",
    "#[param(shape = [2])]",
    "#[buffer(init = 1.0)]",
    "#[cfg(test)]",
    "#[cfg_attr(x, y)]",
    "/// docs",
    "#[doc = 1]",
    "#[allow(unused)]",
    "#[tensor] #[tensor]",
    "#[hyper] #[hyper]",
    "#[hyper] #[tensor]",
];
const BODIES: &[&str] = &[
    "{ (input - target).square() }",
    "{}",
    "{ Ok(input.shallow_clone()) }",
    "{ todo!() }",
    "{ loop {} }",
    "{ LossOutput::weighted(input.shallow_clone(), target.shallow_clone()) }",
];
const SOUP: &[&str] = &[
    "fn",
    "pub",
    "struct",
    "impl",
    "trait",
    "self",
    "Self",
    "&",
    "&&",
    "mut",
    "'a",
    "::",
    ":",
    ";",
    ",",
    "=",
    "->",
    "=>",
    "#",
    "!",
    "?",
    "..",
    "..=",
    "<",
    ">",
    "_",
    "Tensor",
    "f64",
    "loss",
    "hyper",
    "tensor",
    "1",
    "2.0",
    "\"s\"",
    "b'x'",
    "r#type",
    "async",
    "const",
    "unsafe",
    "extern",
    "where",
    "dyn",
    "impl",
    "|",
    "+",
    "-",
    "*",
    "/",
    "@",
    "$",
    "~",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "()",
    "[]",
    "{}",
    "(input: &Tensor)",
    "#[hyper]",
    "<T>",
];

fn param(rng: &mut Rng, position: usize) -> String {
    if position >= 2 && rng.chance(60) {
        return rng.pick(VALID_HYPERS).to_owned();
    }
    let name = match (position, rng.chance(70)) {
        (0, true) => "input",
        (1, true) => "target",
        _ => rng.pick(NAMES),
    };
    let ty = if position < 2 && rng.chance(85) {
        "&Tensor"
    } else {
        rng.pick(TYPES)
    };
    let name = if rng.chance(3) {
        "(a, b)".to_owned()
    } else {
        name.to_owned()
    };
    let name = if rng.chance(3) {
        format!("mut {name}")
    } else {
        name
    };
    let attrs = if rng.chance(30) {
        rng.pick(PARAM_ATTRS)
    } else {
        ""
    };
    format!("{attrs} {name}: {ty}")
}

const VALID_ATTRS: &[&str] = &[
    "",
    "",
    "",
    "name = MyLoss",
    "reduction = \"sum\"",
    "crate = crate",
    "crate = ::focal",
    "name = \"Other\", reduction = \"none\"",
];
const VALID_HYPERS: &[&str] = &[
    "gamma: f64",
    "#[hyper(default = 2.0)] gamma: f64",
    "#[hyper(default = 0.25, check = 0.0..=1.0)] alpha: f64",
    "/// Doc.\n#[hyper(check = positive)] eps: f64",
    "weights: Option<Vec<f64>>",
    "#[hyper(default = 3)] r#type: i64",
    "_beta: f32",
    "#[hyper(check = (..10))] n: usize",
    "flag: bool",
];

fn attr_args(rng: &mut Rng) -> String {
    if rng.chance(50) {
        return rng.pick(VALID_ATTRS).to_owned();
    }
    let mut parts = Vec::new();
    for _ in 0..rng.below(4) {
        let key = rng.pick(ATTR_KEYS);
        parts.push(match rng.below(6) {
            0 => key.to_owned(),
            1 => format!("{key} ="),
            _ => format!("{key} = {}", rng.pick(ATTR_VALUES)),
        });
    }
    let sep = if rng.chance(10) { " " } else { ", " };
    let mut out = parts.join(sep);
    if rng.chance(10) {
        out.push(',');
    }
    out
}

fn signature(rng: &mut Rng) -> String {
    let docs = if rng.chance(30) { "/// A loss.\n" } else { "" };
    let qualifier = if rng.chance(85) {
        "pub"
    } else {
        rng.pick(QUALIFIERS)
    };
    let name = if rng.chance(85) {
        "mse"
    } else {
        rng.pick(FN_NAMES)
    };
    let generics = match rng.below(30) {
        0 => "<T>",
        1 => "<'a>",
        2 => "<const N: usize>",
        _ => "",
    };
    let count = match rng.below(10) {
        0 => 0,
        1 => 1,
        _ => 2 + rng.below(4),
    };
    let mut params: Vec<String> = (0..count).map(|i| param(rng, i)).collect();
    if rng.chance(3) {
        params.insert(
            0,
            rng.pick(&["self", "&self", "&mut self", "self: Box<Self>"])
                .to_owned(),
        );
    }
    if rng.chance(3) {
        params.push("...".to_owned());
    }
    let ret = if rng.chance(75) {
        "-> Tensor"
    } else {
        rng.pick(RETURNS)
    };
    let where_clause = if rng.chance(2) { "where T: Copy" } else { "" };
    let body = rng.pick(BODIES);
    format!(
        "{docs}{qualifier} fn {name}{generics}({}) {ret} {where_clause} {body}",
        params.join(", ")
    )
}

/// Parses text into tokens; the generators only write balanced delimiters, but a bad lexeme
/// (such as `é` in some positions) falls back to an identifier.
fn tokens(text: &str) -> TokenStream {
    text.parse().unwrap_or_else(|_| quote::quote!(fallback))
}

/// Mutates a token stream at every depth: drops, duplicates, swaps, truncates or replaces tokens.
fn mutate(rng: &mut Rng, stream: TokenStream, depth: usize) -> TokenStream {
    let mut trees: Vec<TokenTree> = stream.into_iter().collect();
    for tree in trees.iter_mut() {
        if let TokenTree::Group(group) = tree {
            if depth < 4 && rng.chance(30) {
                let inner = mutate(rng, group.stream(), depth + 1);
                let mut new = Group::new(group.delimiter(), inner);
                new.set_span(group.span());
                *tree = TokenTree::Group(new);
            }
        }
    }
    for _ in 0..1 + rng.below(3) {
        if trees.is_empty() {
            break;
        }
        let len = trees.len();
        match rng.below(7) {
            0 => {
                trees.truncate(rng.below(len));
            }
            1 => {
                trees.remove(rng.below(len));
            }
            2 => {
                let i = rng.below(len);
                let copy = trees[i].clone();
                trees.insert(rng.below(len + 1), copy);
            }
            3 => {
                let (a, b) = (rng.below(len), rng.below(len));
                trees.swap(a, b);
            }
            4 => {
                // Shuffle a window.
                let start = rng.below(len);
                let end = (start + 2 + rng.below(6)).min(len);
                for i in (start + 1..end).rev() {
                    let j = start + rng.below(i - start + 1);
                    trees.swap(i, j);
                }
            }
            5 => {
                let i = rng.below(len);
                let soup: Vec<TokenTree> = tokens(rng.pick(SOUP)).into_iter().collect();
                trees.splice(i..i, soup);
            }
            _ => {
                let i = rng.below(len);
                let replacement = match rng.below(3) {
                    0 => TokenTree::Group(Group::new(Delimiter::None, tokens(rng.pick(TYPES)))),
                    _ => tokens(rng.pick(SOUP))
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| trees[i].clone()),
                };
                trees[i] = replacement;
            }
        }
    }
    trees.into_iter().collect()
}

fn soup(rng: &mut Rng) -> TokenStream {
    let text: Vec<&str> = (0..rng.below(30)).map(|_| rng.pick(SOUP)).collect();
    // Unbalanced delimiters do not lex: drop lone ones.
    let text: Vec<&str> = text
        .into_iter()
        .filter(|t| !matches!(*t, "(" | ")" | "[" | "]" | "{" | "}"))
        .collect();
    tokens(&text.join(" "))
}

fn case(rng: &mut Rng) -> (TokenStream, TokenStream) {
    let attr = tokens(&attr_args(rng));
    let item = tokens(&signature(rng));
    match rng.below(10) {
        0..=3 => (attr, item),
        4..=6 => (attr, mutate(rng, item, 0)),
        7 => (mutate(rng, attr, 0), item),
        8 => (soup(rng), soup(rng)),
        _ => (attr, soup(rng)),
    }
}

#[test]
fn never_panics() {
    let mut rng = Rng(0x5EED_F0CA_1005_0001);
    let mut with_errors = 0;
    let mut failures = Vec::new();
    for _ in 0..CASES {
        let (attr, item) = case(&mut rng);
        let result = catch_unwind(AssertUnwindSafe(|| {
            crate::expand_loss(attr.clone(), item.clone())
        }));
        match result {
            Ok(out) => {
                let text = out.to_string();
                let has_errors = text.contains("compile_error");
                with_errors += usize::from(has_errors);
                // Stronger than "code or compile_error!": the output is always a list of items
                // (errors, the function, the struct), so it never breaks the code around it.
                if syn::parse2::<syn::File>(out).is_err() {
                    let what = if has_errors {
                        "errors, but"
                    } else {
                        "no errors, yet"
                    };
                    failures.push(format!(
                        "{what} not Rust items: #[loss({attr})] {item}\n=> {text}"
                    ));
                }
            }
            Err(_) => failures.push(format!("panicked: #[loss({attr})] {item}")),
        }
    }
    println!(
        "no_panic: tried {CASES} inputs ({with_errors} expanded to compile errors, {} to code)",
        CASES - with_errors
    );
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n\n")
    );
}

//! What the image reads, derived from the sources rather than listed by hand: the app's
//! own `--help` and `src/`, `litestream.yml`, `docker_entrypoint.sh`, the s6 tree and
//! helper scripts under `rootfs/`, and the `Dockerfile`'s `ENV` lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::repo_root;

/// Every environment variable the app or the image reads, with the file that reads it.
pub struct ImageEnv {
    pub read_by: BTreeMap<String, BTreeSet<String>>,
    /// Defaults the app's `--help` prints, by flag (`port` -> `3001`).
    pub app_defaults: BTreeMap<String, String>,
}

impl ImageEnv {
    pub fn reads(&self, name: &str) -> bool {
        self.read_by.contains_key(name)
    }

    pub fn app_default(&self, flag: &str) -> &str {
        self.app_defaults
            .get(flag)
            .unwrap_or_else(|| panic!("`logpaste --help` shows no [default: ...] for --{flag}"))
    }

    fn add(&mut self, name: &str, source: &str) {
        self.read_by
            .entry(name.to_string())
            .or_default()
            .insert(source.to_string());
    }
}

/// The container's files. Until they exist the recipes cannot be checked against them,
/// and the test says so instead of passing on half the picture.
pub const CONTAINER_FILES: &[&str] = &["Dockerfile", "docker_entrypoint.sh", "litestream.yml"];

pub fn derive() -> ImageEnv {
    let root = repo_root();
    let missing: Vec<&str> = CONTAINER_FILES
        .iter()
        .copied()
        .filter(|file| !root.join(file).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "the recipes run the container image, but {missing:?} do not exist yet in {}: \
         the set of variables the image reads cannot be derived without them",
        root.display()
    );

    let mut env = ImageEnv {
        read_by: BTreeMap::new(),
        app_defaults: BTreeMap::new(),
    };
    read_app_help(&mut env);
    for file in rust_sources(&root.join("src")) {
        let text = fs::read_to_string(&file).unwrap();
        for name in env_names_in_rust(&text) {
            env.add(&name, &relative(&file));
        }
    }
    let litestream = fs::read_to_string(root.join("litestream.yml")).unwrap();
    for name in shell_variable_references(&litestream) {
        env.add(&name, "litestream.yml");
    }
    let mut scripts = vec![root.join("docker_entrypoint.sh")];
    scripts.extend(files_under(&root.join("rootfs")));
    for file in scripts {
        let Ok(text) = fs::read_to_string(&file) else {
            continue; // not text: nothing to read variables from
        };
        for name in shell_variable_references(&text)
            .into_iter()
            .chain(execline_imports(&text))
        {
            env.add(&name, &relative(&file));
        }
    }
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).unwrap();
    for name in dockerfile_env_names(&dockerfile) {
        env.add(&name, "Dockerfile (ENV)");
    }
    env
}

/// `logpaste --help`, run with an empty environment so that it prints the defaults:
/// clap lists each flag's variable as `[env: NAME=]` and its `[default: VALUE]`.
fn read_app_help(env: &mut ImageEnv) {
    let output = Command::new(env!("CARGO_BIN_EXE_logpaste"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("run logpaste --help");
    let help = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let mut current_flag: Option<String> = None;
    for line in help.lines() {
        // A flag's entry starts with its spellings (`-h, --help`, `--port <PORT>`).
        if line.trim_start().starts_with('-') {
            current_flag = line.split_whitespace().find_map(|word| {
                word.strip_prefix("--")
                    .map(|rest| rest.split(['=', '[', '<']).next().unwrap_or("").to_string())
            });
        }
        for (start, _) in line.match_indices("[env: ") {
            let rest = &line[start + "[env: ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| *c != '=' && *c != ']')
                .collect();
            env.add(&name, "logpaste --help");
        }
        if let (Some(flag), Some(start)) = (&current_flag, line.find("[default: ")) {
            let rest = &line[start + "[default: ".len()..];
            let value: String = rest.chars().take_while(|c| *c != ']').collect();
            env.app_defaults.insert(flag.clone(), value);
        }
    }
    assert!(
        env.read_by
            .values()
            .any(|sources| sources.contains("logpaste --help")),
        "`logpaste --help` named no environment variable; its output was:\n{help}"
    );
}

/// Names in `env = "NAME"` attributes, and string literals passed straight to a function
/// whose name mentions env or var (`std::env::var("X")`, `env_is_set("X")`).
/// `EnvFilter::from_default_env`, and a read of `EnvFilter::DEFAULT_ENV`, mean `RUST_LOG`.
pub fn env_names_in_rust(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (quote, _) in source.match_indices('"') {
        let Some(literal) = source[quote + 1..].split('"').next() else {
            continue;
        };
        if !is_env_name(literal) {
            continue;
        }
        let before = source[..quote].trim_end();
        let by_attribute = before.ends_with("env =") || before.ends_with("env=");
        let by_call = before.strip_suffix('(').is_some_and(|head| {
            let function_start = head
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |index| index + 1);
            let function = &head[function_start..];
            function.contains("env") || function.contains("var")
        });
        if by_attribute || by_call {
            names.insert(literal.to_string());
        }
    }
    if source.contains("from_default_env") || source.contains("EnvFilter::DEFAULT_ENV") {
        names.insert("RUST_LOG".to_string());
    }
    names
}

/// `$NAME` and `${NAME...}` in shell scripts and in files Litestream expands, upper-case
/// names only (lower-case ones are script locals); comment lines are skipped.
pub fn shell_variable_references(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for (dollar, _) in line.match_indices('$') {
            let rest = line[dollar + 1..]
                .strip_prefix('{')
                .unwrap_or(&line[dollar + 1..]);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if is_env_name(&name) {
                names.insert(name);
            }
        }
    }
    names
}

/// execline's `importas [options] variable envvar` reads `envvar`.
fn execline_imports(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.trim_start().starts_with("importas"))
        .filter_map(|line| line.split_whitespace().last())
        .filter(|name| is_env_name(name))
        .map(str::to_string)
        .collect()
}

/// `ENV NAME=value ...` and the old `ENV NAME value` form.
fn dockerfile_env_names(dockerfile: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        let words: Vec<&str> = if let Some(rest) = trimmed.strip_prefix("ENV ") {
            in_env = true;
            rest.split_whitespace().collect()
        } else if in_env {
            trimmed.split_whitespace().collect()
        } else {
            Vec::new()
        };
        for word in &words {
            let name = word.split('=').next().unwrap_or("");
            if word.contains('=') && is_env_name(name) {
                names.insert(name.to_string());
            }
        }
        if in_env && !words.is_empty() && !words.iter().any(|w| w.contains('=')) {
            if let Some(name) = words.first().filter(|w| is_env_name(w)) {
                names.insert(name.to_string());
            }
        }
        in_env = in_env && trimmed.ends_with('\\');
    }
    names
}

pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.chars().any(|c| c.is_ascii_uppercase())
}

fn rust_sources(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect()
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_scan_finds_attribute_and_call_names_only() {
        let source = r#"
            #[arg(long, env = "LP_TITLE", default_value = "X")]
            let a = env_is_set("LP_BEHIND_PROXY");
            let b = std::env::var_os("DB_REPLICA_URL");
            let c = method("GET");
            let d = EnvFilter::try_from_default_env();
        "#;
        let names = env_names_in_rust(source);
        let expected: BTreeSet<String> =
            ["LP_TITLE", "LP_BEHIND_PROXY", "DB_REPLICA_URL", "RUST_LOG"]
                .into_iter()
                .map(String::from)
                .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn shell_scan_reads_references_not_comments_or_locals() {
        let script = "# $COMMENTED\nDB_PATH=\"${DB_PATH:-x}\"\necho \"$PORT $local ${1}\"\n";
        let names = shell_variable_references(script);
        let expected: BTreeSet<String> =
            ["DB_PATH", "PORT"].into_iter().map(String::from).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn dockerfile_scan_reads_both_env_forms() {
        let dockerfile = "FROM x\nENV A_B=1 \\\n    C=2\nENV OLD value\nRUN echo $NOT_ENV\n";
        let names = dockerfile_env_names(dockerfile);
        let expected: BTreeSet<String> =
            ["A_B", "C", "OLD"].into_iter().map(String::from).collect();
        assert_eq!(names, expected);
    }
}

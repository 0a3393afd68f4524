//! Every setting of the server: LogPaste's flags in both spellings (`-title X` as Go's
//! `flag` package parses it, and `--title X`), each also readable from the environment.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

pub const DEFAULT_TITLE: &str = "LogPaste";
pub const DEFAULT_SUBTITLE: &str = "A minimalist, open-source debug log upload service";

/// Flags that take a value in the next argument when written without `=`.
const VALUE_FLAGS: &[&str] = &[
    "title",
    "subtitle",
    "footer",
    "perminutelimit",
    "maxsize",
    "host",
    "port",
    "db-path",
];
/// Boolean flags: like Go, they only take a value after `=` (`-showdocs=false`).
const BOOL_FLAGS: &[&str] = &["showdocs"];

/// What `--help` cannot show beside each flag: the settings read from the environment only.
const AFTER_HELP: &str = "\
Flags also take LogPaste's single-dash spelling (-title X, -showdocs=false).
A maxsize above 953 (the most SQLite stores in one row) warns, and 953 applies.

Environment only:
  LP_BEHIND_PROXY   any non-empty value: behind a reverse proxy; client addresses,
                    scheme and host come from X-Forwarded-For/-Proto/-Host
  RUST_LOG          log filter (by default info,sqlx=warn,actix_server=warn); add
                    logpaste::request=off to drop the line per request
Replication (DB_REPLICA_URL and the bucket settings) belongs to the container image:
see docs/replication.md.";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "logpaste",
    version,
    about = "A pastebin for log files, backed by one SQLite file (LogPaste-compatible)",
    after_help = AFTER_HELP,
    // Go's flag package lets a flag be given again, the last value winning (a wrapper's
    // defaults, then the operator's own): `-title A -title B` is B, not an error.
    args_override_self = true
)]
pub struct Config {
    /// Page title and heading (shown escaped).
    #[arg(long, env = "LP_TITLE", default_value = DEFAULT_TITLE, allow_hyphen_values = true)]
    pub title: String,

    /// Line under the heading (shown escaped).
    #[arg(long, env = "LP_SUBTITLE", default_value = DEFAULT_SUBTITLE, allow_hyphen_values = true)]
    pub subtitle: String,

    /// Raw HTML at the bottom of the homepage: the operator's own markup.
    #[arg(
        long,
        env = "LP_FOOTER",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub footer: String,

    /// Show the curl and JavaScript usage section (`-showdocs=false` hides it).
    #[arg(
        long,
        env = "LP_SHOWDOCS",
        default_value = "true",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set,
        value_parser = parse_go_bool
    )]
    pub showdocs: bool,

    /// Uploads allowed per client address per minute; 0 turns the limit off.
    #[arg(
        long,
        env = "LP_PERMINUTELIMIT",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub perminutelimit: u32,

    /// Largest paste accepted, in MiB.
    #[arg(
        long,
        env = "LP_MAXSIZE",
        default_value_t = 2,
        allow_hyphen_values = true,
        value_parser = parse_maxsize
    )]
    pub maxsize: u64,

    /// Address to listen on; the default `::` takes IPv4 and IPv6, as LogPaste's `:PORT`.
    #[arg(long, env = "LP_HOST", default_value = "::")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3001, allow_hyphen_values = true)]
    pub port: u16,

    /// SQLite database file; parent folders are created.
    #[arg(
        long = "db-path",
        env = "DB_PATH",
        default_value = "data/store.db",
        value_parser = parse_db_path
    )]
    pub db_path: PathBuf,

    /// Non-empty: trust the proxy's X-Forwarded-For/-Proto/-Host headers.
    #[arg(skip)]
    pub behind_proxy: bool,

    /// Set when Litestream replicates the database: it then owns WAL checkpoints.
    #[arg(skip)]
    pub replicated: bool,

    /// Settings that are valid but likely not what the operator meant: one log line each.
    #[arg(skip)]
    pub warnings: Vec<String>,

    /// How long a response may sit unread (the client's TCP window shut, or no ACKs) before
    /// the connection is dropped with what it held. Not a setting: tests shorten it.
    #[arg(skip = SEND_STALL_TIMEOUT)]
    pub send_stall_timeout: std::time::Duration,
}

/// nginx's `send_timeout` default: a client that reads nothing for a minute is gone, or
/// holding a response's memory on purpose.
pub const SEND_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The largest paste SQLite can store: a row may not pass SQLITE_MAX_LENGTH (10^9 bytes in
/// the SQLite we build), and 953 MiB leaves room for the row's id and time. LogPaste took
/// any `-maxsize` and failed on such pastes; we accept the setting and say what applies.
pub const MAX_STORABLE_MIB: u64 = 953;

/// Why the configuration could not be read: a message for the operator, or help/version
/// output that should be printed as is.
#[derive(Debug)]
pub enum ConfigError {
    Invalid(String),
    Informational(String),
}

impl Config {
    /// Reads flags from `args` (program name first) and settings from the environment.
    pub fn parse_from_env<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let (args, single_dash_unknown) = normalize_go_flags(args);
        let mut config = Config::try_parse_from(args).map_err(|err| {
            use clap::error::ErrorKind;
            match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    ConfigError::Informational(err.render().to_string())
                }
                _ => {
                    let line = first_line(&err.render().to_string());
                    ConfigError::Invalid(with_hint(as_typed(line, &single_dash_unknown)))
                }
            }
        })?;
        config.behind_proxy = env_is_set("LP_BEHIND_PROXY");
        if config.maxsize > MAX_STORABLE_MIB {
            config.warnings.push(format!(
                "maxsize {} MiB is more than SQLite stores in one paste: pastes up to \
                 {MAX_STORABLE_MIB} MiB are accepted",
                config.maxsize
            ));
        }
        if let Some(value) = std::env::var_os("LP_BEHIND_PROXY") {
            let value = value.to_string_lossy();
            // LogPaste's rule, kept for compatibility: any non-empty value means "on".
            if parse_go_bool(&value) == Ok(false) {
                config.warnings.push(format!(
                    "LP_BEHIND_PROXY={value} turns proxy mode ON (any non-empty value does, \
                     as in LogPaste): forwarded headers are trusted; unset it to turn it off"
                ));
            }
        }
        config.replicated = env_is_set("DB_REPLICA_URL");
        Ok(config)
    }

    /// The environment variables that hold settings (`PORT`, `LP_TITLE`, ...).
    pub fn setting_env_vars() -> Vec<String> {
        use clap::CommandFactory;
        Config::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|name| name.to_string_lossy().into_owned())
            .collect()
    }

    /// Largest paste accepted, in MiB: `maxsize`, or what SQLite can store if that is less.
    pub fn max_paste_mib(&self) -> u64 {
        self.maxsize.min(MAX_STORABLE_MIB)
    }

    /// Largest paste in bytes.
    pub fn max_paste_bytes(&self) -> usize {
        // At most MAX_STORABLE_MIB MiB, so this cannot overflow.
        (self.max_paste_mib() as usize) * 1024 * 1024
    }
}

fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

/// `-showdocs false` is two arguments, in Go's flag package as here: the value of a
/// boolean flag goes after `=`. Say so where clap only sees a stray word.
fn with_hint(message: String) -> String {
    let stray_boolean = ["true", "false"]
        .iter()
        .any(|word| message.contains(&format!("unexpected argument '{word}'")));
    if stray_boolean {
        format!("{message}; a boolean flag takes its value after '=', e.g. -showdocs=false")
    } else {
        message
    }
}

/// clap's message without its "error: " prefix, usage and hints: one line for the log.
fn first_line(rendered: &str) -> String {
    let line = rendered.lines().next().unwrap_or("invalid arguments");
    line.trim_start_matches("error: ").to_string()
}

/// A whole number of MiB, 1 or more; any larger number is taken (capped later, with a
/// warning, at what SQLite stores).
fn parse_maxsize(value: &str) -> Result<u64, String> {
    let mib: i128 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a whole number of MiB"))?;
    if mib < 1 {
        return Err(format!("{mib} is less than 1 MiB"));
    }
    Ok(u64::try_from(mib).unwrap_or(u64::MAX))
}

/// A path SQLite opens as that very file. SQLite reads `:memory:` as a database held in
/// memory, and (sqlx opens with URIs on) `file:...` as a URI that may name another file or
/// memory: pastes would be acknowledged and lost, or written where the app does not look.
fn parse_db_path(value: &str) -> Result<PathBuf, String> {
    if value == ":memory:" || value.starts_with("file:") {
        return Err(format!(
            "SQLite would not keep the pastes in a file named '{value}': give a plain file \
             path (write ./{value} for a file really named so)"
        ));
    }
    Ok(PathBuf::from(value))
}

/// Go's `strconv.ParseBool`, plus the yes/no/on/off words people write in env files.
fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" | "yes" | "on" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "no" | "off" => Ok(false),
        other => Err(format!("'{other}' is not a boolean (use true or false)")),
    }
}

/// clap names an unknown word by the `--word` it was rewritten to; name it as it was
/// typed (`-bogus`), so the operator finds it on their command line.
fn as_typed(message: String, single_dash_unknown: &[String]) -> String {
    single_dash_unknown.iter().fold(message, |message, name| {
        message.replace(&format!("'--{name}'"), &format!("'-{name}'"))
    })
}

/// Rewrites Go-style single-dash long flags (`-title X`, `-showdocs=false`) to clap's
/// `--title X`, leaving flag values (a footer that starts with `-`) untouched. Also returns
/// the names of unknown flags that were typed with a single dash and rewritten to two.
fn normalize_go_flags<I, T>(args: I) -> (Vec<OsString>, Vec<String>)
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut single_dash_unknown = Vec::new();
    let mut out = Vec::new();
    let mut iter = args.into_iter().map(Into::into);
    if let Some(program) = iter.next() {
        out.push(program);
    }
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(iter.by_ref());
            break;
        }
        let Some(body) = text
            .strip_prefix("--")
            .or_else(|| text.strip_prefix('-'))
            .filter(|body| !body.is_empty())
        else {
            out.push(arg);
            continue;
        };
        let (name, has_inline_value) = match body.split_once('=') {
            Some((name, _)) => (name, true),
            None => (body, false),
        };
        let known_value_flag = VALUE_FLAGS.contains(&name);
        if !known_value_flag && !BOOL_FLAGS.contains(&name) {
            // An unknown single-dash word (`-bogus`) is reported whole, as Go would,
            // rather than as the short flag `-b`.
            let is_word = !text.starts_with("--") && name.len() > 1;
            if is_word && name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                single_dash_unknown.push(name.to_string());
                out.push(OsString::from(format!("--{body}")));
            } else {
                out.push(arg);
            }
            continue;
        }
        out.push(OsString::from(format!("--{body}")));
        if known_value_flag && !has_inline_value {
            // The next argument is this flag's value, whatever it looks like.
            if let Some(value) = iter.next() {
                out.push(value);
            }
        }
    }
    (out, single_dash_unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        normalize_go_flags(args.iter().copied())
            .0
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_spellings_become_gnu_spellings() {
        assert_eq!(
            strings(&["lp", "-title", "-x-", "-showdocs=false", "-maxsize=3"]),
            ["lp", "--title", "-x-", "--showdocs=false", "--maxsize=3"]
        );
    }

    #[test]
    fn values_that_look_like_flags_are_left_alone() {
        assert_eq!(
            strings(&["lp", "--footer", "-title", "-subtitle", "--x"]),
            ["lp", "--footer", "-title", "--subtitle", "--x"]
        );
    }
}

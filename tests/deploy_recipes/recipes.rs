//! Each recipe under `deploy/`, parsed from its own files into one shape: what it sets,
//! what it leaves to the operator as a secret, where the platform sends traffic, and what
//! it checks. Platform-specific rules live in main.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value as Json;

use crate::repo_root;

pub struct Recipe {
    pub name: &'static str,
    /// Variables the recipe's files give the container, with their values.
    pub env: BTreeMap<String, String>,
    /// Variables the operator sets at deploy time (platform secrets, config vars, the
    /// environment a deploy script reads), named by the recipe but valued nowhere in it.
    pub operator_set: BTreeSet<String>,
    /// The container port the platform routes to; `None` when the platform assigns `PORT`.
    pub routed_port: Option<u16>,
    /// Health-check paths the platform polls.
    pub health_paths: Vec<String>,
    /// Whether a proxy of the platform's sits in front of the app.
    pub behind_platform_proxy: bool,
}

pub fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

pub fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}

pub fn fly_toml() -> toml::Table {
    read("fly/fly.toml")
        .parse()
        .expect("deploy/fly/fly.toml is valid TOML")
}

pub fn fly() -> Recipe {
    let config = fly_toml();
    let env = string_table(config.get("env"), "fly.toml [env]");
    let service = config["http_service"]
        .as_table()
        .expect("fly.toml has an [http_service]");
    let port = service["internal_port"]
        .as_integer()
        .expect("http_service.internal_port is a number");
    let health_paths = service
        .get("checks")
        .and_then(|checks| checks.as_array())
        .expect("fly.toml has [[http_service.checks]]")
        .iter()
        .map(|check| {
            check["path"]
                .as_str()
                .expect("an http check has a path")
                .to_string()
        })
        .collect();
    Recipe {
        name: "fly",
        env,
        operator_set: names_set_by_command(&read("fly/README.md"), "fly secrets set"),
        routed_port: Some(u16::try_from(port).expect("internal_port fits a port")),
        health_paths,
        behind_platform_proxy: true,
    }
}

pub fn heroku_app_json() -> Json {
    serde_json::from_str(&read("heroku/app.json")).expect("deploy/heroku/app.json is valid JSON")
}

pub fn heroku() -> Recipe {
    let app = heroku_app_json();
    let declared = app["env"].as_object().expect("app.json has an env object");
    let mut env = BTreeMap::new();
    let mut unvalued = BTreeSet::new();
    for (name, spec) in declared {
        let value = match spec {
            Json::String(value) => Some(value.clone()),
            Json::Object(fields) => fields.get("value").map(|value| {
                value
                    .as_str()
                    .unwrap_or_else(|| panic!("app.json env {name}: value is not a string"))
                    .to_string()
            }),
            other => panic!("app.json env {name}: unexpected {other}"),
        };
        match value {
            Some(value) => {
                env.insert(name.clone(), value);
            }
            // No value: the Deploy button asks for it, like `heroku config:set` does.
            None => {
                unvalued.insert(name.clone());
            }
        }
    }
    let cli_settings = names_set_by_command(&read("heroku/README.md"), "heroku config:set");
    Recipe {
        name: "heroku",
        env,
        operator_set: unvalued.union(&cli_settings).cloned().collect(),
        routed_port: None,
        health_paths: Vec::new(), // Heroku has no configurable health check
        behind_platform_proxy: true,
    }
}

/// The variables `deploy.sh` passes through from the operator's environment, read from
/// its `required_vars=(...)` and `optional_vars=(...)` arrays.
pub fn lightsail_script_vars() -> (Vec<String>, Vec<String>) {
    let script = read("lightsail/deploy.sh");
    let array = |name: &str| -> Vec<String> {
        let start = script
            .find(&format!("{name}=("))
            .unwrap_or_else(|| panic!("deploy.sh defines {name}=(...)"));
        let body = &script[start + name.len() + 2..];
        body[..body.find(')').expect("array is closed")]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    (array("required_vars"), array("optional_vars"))
}

/// Runs `deploy.sh render` with the given environment (plus PATH): its exit status,
/// stdout and stderr. Nothing is sent anywhere in this mode.
pub fn lightsail_render(env: &BTreeMap<String, String>) -> (bool, String, String) {
    let jq_found = Command::new("jq").arg("--version").output().is_ok();
    assert!(
        jq_found,
        "jq is not installed (scripts/setup installs it): deploy.sh needs it"
    );
    let output = Command::new("bash")
        .arg(deploy_dir().join("lightsail/deploy.sh"))
        .arg("render")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("run deploy/lightsail/deploy.sh render");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Values for the script's required variables, with characters that break naive JSON
/// or shell quoting.
pub fn awkward_values(names: &[String]) -> BTreeMap<String, String> {
    names
        .iter()
        .map(|name| (name.clone(), format!("{name} \"q\" $HOME \\ `x` 'y'")))
        .collect()
}

pub fn lightsail() -> Recipe {
    let (required, optional) = lightsail_script_vars();
    let (ok, stdout, stderr) = lightsail_render(&awkward_values(&required));
    assert!(ok, "deploy.sh render failed:\n{stderr}");
    let request: Json = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("deploy.sh render printed invalid JSON ({err}):\n{stdout}"));
    let endpoint = &request["publicEndpoint"];
    let container_name = endpoint["containerName"]
        .as_str()
        .expect("publicEndpoint.containerName");
    let container = &request["containers"][container_name];
    assert!(
        container.is_object(),
        "the public endpoint names container {container_name}, which the deployment lacks"
    );
    let mut env: BTreeMap<String, String> = container["environment"]
        .as_object()
        .expect("container environment")
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("{name} is not a string"));
            (name.clone(), value.to_string())
        })
        .collect();
    // What the script added from the environment is the operator's, not the recipe's.
    for name in &required {
        env.remove(name);
    }
    let port = endpoint["containerPort"].as_u64().expect("containerPort");
    let opened: Vec<&String> = container["ports"]
        .as_object()
        .expect("container ports")
        .keys()
        .collect();
    assert_eq!(
        opened,
        vec![&port.to_string()],
        "the container opens exactly the public endpoint's port"
    );
    Recipe {
        name: "lightsail",
        env,
        operator_set: required.into_iter().chain(optional).collect(),
        routed_port: Some(u16::try_from(port).expect("containerPort fits a port")),
        health_paths: vec![endpoint["healthCheck"]["path"]
            .as_str()
            .expect("healthCheck.path")
            .to_string()],
        behind_platform_proxy: true,
    }
}

pub fn compose() -> serde_yaml::Value {
    serde_yaml::from_str(&read("local/compose.yaml")).expect("deploy/local/compose.yaml is YAML")
}

pub fn local() -> Recipe {
    let compose = compose();
    let app = &compose["services"]["logpaste"];
    assert!(app.is_mapping(), "compose.yaml has a logpaste service");
    let env = yaml_env(&app["environment"], "logpaste");
    let port_mappings = app["ports"]
        .as_sequence()
        .expect("logpaste publishes a port");
    assert_eq!(port_mappings.len(), 1, "logpaste publishes one port");
    let mapping = port_mappings[0].as_str().expect("port mapping as a string");
    let container_port = mapping
        .rsplit(':')
        .next()
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("container port of {mapping}"));
    Recipe {
        name: "local",
        env,
        operator_set: BTreeSet::new(),
        routed_port: Some(container_port),
        health_paths: Vec::new(), // Compose checks nothing; Docker uses the image's HEALTHCHECK
        behind_platform_proxy: false,
    }
}

pub fn all() -> Vec<Recipe> {
    vec![fly(), heroku(), lightsail(), local()]
}

/// A compose `environment:` as a map (both the mapping and the `- NAME=value` forms).
pub fn yaml_env(value: &serde_yaml::Value, service: &str) -> BTreeMap<String, String> {
    let scalar = |value: &serde_yaml::Value| match value {
        serde_yaml::Value::String(text) => text.clone(),
        serde_yaml::Value::Number(number) => number.to_string(),
        serde_yaml::Value::Bool(flag) => flag.to_string(),
        other => panic!("{service}: unexpected environment value {other:?}"),
    };
    match value {
        serde_yaml::Value::Mapping(map) => map
            .iter()
            .map(|(name, value)| (scalar(name), scalar(value)))
            .collect(),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let text = scalar(item);
                let (name, value) = text.split_once('=').unwrap_or((&text, ""));
                (name.to_string(), value.to_string())
            })
            .collect(),
        other => panic!("{service}: environment is {other:?}"),
    }
}

fn string_table(value: Option<&toml::Value>, what: &str) -> BTreeMap<String, String> {
    value
        .and_then(|value| value.as_table())
        .unwrap_or_else(|| panic!("{what} is a table"))
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {name} must be a string"));
            (name.clone(), value.to_string())
        })
        .collect()
}

/// The `NAME=` words of every shell command in `markdown` that starts with `command`,
/// following `\` line continuations.
pub fn names_set_by_command(markdown: &str, command: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = false;
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with(command) {
            continue;
        }
        found = true;
        let mut current = index;
        loop {
            for word in lines[current].split_whitespace() {
                if let Some((name, _)) = word.split_once('=') {
                    if crate::image_env::is_env_name(name) {
                        names.insert(name.to_string());
                    }
                }
            }
            if !lines[current].trim_end().ends_with('\\') || current + 1 == lines.len() {
                break;
            }
            current += 1;
        }
    }
    assert!(found, "the README shows no `{command}` command");
    names
}

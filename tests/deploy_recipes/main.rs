//! The deployment recipes under `deploy/` must not drift from the code. Every file there
//! is parsed (TOML, JSON, YAML, compose, the Lightsail script's own output), and checked
//! against what the app and the image really read and serve:
//! - every variable a recipe sets is one the app or the image reads (derived from the
//!   sources, see image_env.rs), and the bucket settings are set or left as secrets;
//! - no secret is written into a remote recipe's files;
//! - the port the platform routes to is the app's port;
//! - the real app, started with each recipe's environment, answers 200 on the recipe's
//!   health-check path and shows the recipe's branding;
//! - exactly one instance, everywhere; shell scripts pass shellcheck.

#[path = "../common/ports.rs"]
mod ports;

mod app;
mod image_env;
mod local_stack;
mod recipes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use app::{html_escaped, RunningApp};
use recipes::{read, Recipe};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Without these the instance has no bucket, and a restarted host has no data.
const BUCKET_SETTINGS: &[&str] = &[
    "DB_REPLICA_URL",
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
];
/// Never written into the files of a recipe that deploys to someone else's machines.
const SECRETS: &[&str] = &["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"];
/// Operators deploy under their own product's name.
const BRANDING: &[&str] = &["LP_TITLE", "LP_SUBTITLE", "LP_FOOTER"];
/// Variables of the tools the READMEs run, not of the image.
const CLI_VARIABLES: &[&str] = &["AWS_REGION", "AWS_PROFILE"];

#[test]
fn every_variable_a_recipe_sets_is_read_by_the_app_or_the_image() {
    let image = image_env::derive();
    let mut unknown = Vec::new();
    for recipe in recipes::all() {
        for name in recipe.env.keys().chain(&recipe.operator_set) {
            if !image.reads(name) {
                unknown.push(format!("{}: {name}", recipe.name));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "recipes set variables that nothing in the image reads: {unknown:?}\n\
         the image reads: {:?}",
        image.read_by.keys().collect::<Vec<_>>()
    );
}

#[test]
fn bucket_settings_are_read_by_the_image_and_every_recipe_sets_them_or_leaves_them_as_secrets() {
    let image = image_env::derive();
    for name in BUCKET_SETTINGS {
        assert!(
            image.reads(name),
            "{name} is no longer read by the image: the recipes and BUCKETS.md need updating"
        );
    }
    for recipe in recipes::all() {
        for name in BUCKET_SETTINGS {
            let in_file = recipe.env.get(*name).is_some_and(|value| !value.is_empty());
            assert!(
                in_file || recipe.operator_set.contains(*name),
                "{}: {name} is neither set nor declared as a deploy-time secret",
                recipe.name
            );
        }
    }
}

#[test]
fn no_secret_is_written_into_a_remote_recipe() {
    for recipe in [recipes::fly(), recipes::heroku(), recipes::lightsail()] {
        for name in SECRETS {
            assert!(
                !recipe.env.contains_key(*name),
                "{}: {name} has a value in the recipe's files; it must be a platform secret",
                recipe.name
            );
            assert!(
                recipe.operator_set.contains(*name),
                "{}: {name} is not declared as a secret the operator sets",
                recipe.name
            );
        }
    }
    // app.json: a secret has no value, and the Deploy button must insist on it.
    let app = recipes::heroku_app_json();
    for name in SECRETS {
        assert_eq!(
            app["env"][name]["required"],
            Json::Bool(true),
            "app.json: {name} must be required"
        );
    }
    // The local stack's keys are the ones it gives its own local MinIO, nothing else.
    let compose = recipes::compose();
    let minio = recipes::yaml_env(&compose["services"]["minio"]["environment"], "minio");
    let local = recipes::local();
    assert_eq!(
        local.env.get("LITESTREAM_ACCESS_KEY_ID"),
        minio.get("MINIO_ROOT_USER"),
        "local: the app's key id is the local MinIO's user"
    );
    assert_eq!(
        local.env.get("LITESTREAM_SECRET_ACCESS_KEY"),
        minio.get("MINIO_ROOT_PASSWORD"),
        "local: the app's secret is the local MinIO's password"
    );
}

#[test]
fn every_recipe_sets_its_branding_and_proxy_mode() {
    let image = image_env::derive();
    let default_title = image.app_default("title").to_string();
    for recipe in recipes::all() {
        for name in BRANDING {
            let value = recipe.env.get(*name).map(String::as_str).unwrap_or("");
            assert!(!value.is_empty(), "{}: {name} is not set", recipe.name);
        }
        assert_ne!(
            recipe.env["LP_TITLE"], default_title,
            "{}: the title is still the app's default",
            recipe.name
        );
        let proxy = recipe
            .env
            .get("LP_BEHIND_PROXY")
            .map(String::as_str)
            .unwrap_or("");
        if recipe.behind_platform_proxy {
            assert!(
                !proxy.is_empty(),
                "{}: behind a proxy, LP_BEHIND_PROXY must be set",
                recipe.name
            );
        } else {
            assert!(
                proxy.is_empty(),
                "{}: no proxy here, LP_BEHIND_PROXY must stay unset",
                recipe.name
            );
        }
    }
}

#[test]
fn the_port_the_platform_routes_to_is_the_port_the_app_listens_on() {
    let image = image_env::derive();
    assert!(image.reads("PORT"), "the app no longer reads PORT");
    let default_port: u16 = image
        .app_default("port")
        .parse()
        .expect("the app's default port is a number");
    for recipe in recipes::all() {
        let app_port = recipe
            .env
            .get("PORT")
            .map(|port| {
                port.parse::<u16>()
                    .unwrap_or_else(|_| panic!("{}: PORT={port}", recipe.name))
            })
            .unwrap_or(default_port);
        match recipe.routed_port {
            Some(routed) => assert_eq!(
                routed, app_port,
                "{}: the platform routes to {routed}, the app listens on {app_port}",
                recipe.name
            ),
            // Heroku assigns PORT to each dyno: setting it would break routing.
            None => assert!(
                !recipe.env.contains_key("PORT") && !recipe.operator_set.contains("PORT"),
                "{}: the platform assigns PORT; the recipe must not set it",
                recipe.name
            ),
        }
    }
}

#[tokio::test]
async fn the_real_app_started_with_each_recipe_serves_its_health_check_and_branding() {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    for recipe in recipes::all() {
        let env = deployed_environment(&recipe);
        let mut app = RunningApp::start(&env);
        app.wait_until_listening(&client).await;

        let mut paths = recipe.health_paths.clone();
        if paths.is_empty() {
            paths.push("/healthz".to_string()); // what the image's own HEALTHCHECK polls
        }
        for path in &paths {
            let response = client
                .get(format!("{}{path}", app.base_url))
                .send()
                .await
                .unwrap_or_else(|err| panic!("{}: GET {path}: {err}", recipe.name));
            assert_eq!(
                response.status(),
                200,
                "{}: health check GET {path} must answer 200; app log:\n{}",
                recipe.name,
                app.log()
            );
        }

        let home = client
            .get(format!("{}/", app.base_url))
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("homepage body");
        for (name, shown) in [
            ("LP_TITLE", html_escaped(&recipe.env["LP_TITLE"])),
            ("LP_SUBTITLE", html_escaped(&recipe.env["LP_SUBTITLE"])),
            ("LP_FOOTER", recipe.env["LP_FOOTER"].clone()), // raw HTML by design
        ] {
            assert!(
                home.contains(&shown),
                "{}: the homepage does not show {name} ({shown:?})",
                recipe.name
            );
        }
    }
}

/// The environment a recipe's container gets: its files' variables plus the secrets the
/// operator sets (here with stand-in values; the app only checks that they are set).
fn deployed_environment(recipe: &Recipe) -> BTreeMap<String, String> {
    let mut env = recipe.env.clone();
    for name in &recipe.operator_set {
        let value = match name.as_str() {
            "DB_REPLICA_URL" => "s3://stand-in-bucket/logpaste".to_string(),
            "DB_PATH" => "/tmp/logpaste/store.db".to_string(),
            _ => env
                .get(name)
                .cloned()
                .unwrap_or_else(|| "stand-in".to_string()),
        };
        env.entry(name.clone()).or_insert(value);
    }
    if recipe.routed_port.is_none() {
        env.insert("PORT".to_string(), "5000".to_string()); // as the platform would
    }
    env
}

#[test]
fn fly_runs_one_machine_with_a_health_check_and_time_for_the_final_sync() {
    let config = recipes::fly_toml();
    let service = config["http_service"].as_table().expect("[http_service]");
    let min_running = service
        .get("min_machines_running")
        .and_then(|value| value.as_integer())
        .unwrap_or(0);
    assert!(
        min_running <= 1,
        "fly: min_machines_running {min_running} > 1"
    );
    assert!(
        config.get("services").is_none(),
        "fly: one [http_service] only, no extra [[services]]"
    );
    assert!(
        config.get("mounts").is_none(),
        "fly: no volume: the database is restored on boot"
    );
    let strategy = config
        .get("deploy")
        .and_then(|deploy| deploy.get("strategy"))
        .and_then(|strategy| strategy.as_str())
        .expect("fly: [deploy] strategy is set explicitly");
    assert!(
        ["rolling", "immediate"].contains(&strategy),
        "fly: strategy {strategy:?} starts a second Machine beside the first"
    );
    let kill_timeout = match &config["kill_timeout"] {
        toml::Value::Integer(seconds) => *seconds,
        toml::Value::String(text) => text
            .strip_suffix('s')
            .and_then(|seconds| seconds.parse().ok())
            .unwrap_or_else(|| panic!("fly: kill_timeout {text:?} is not in seconds")),
        other => panic!("fly: kill_timeout is {other}"),
    };
    let needed = image_stop_seconds();
    assert!(
        (needed..=300).contains(&kill_timeout),
        "fly: kill_timeout {kill_timeout}s must cover the image's stop time ({needed}s) \
         and stay within Fly's 300s"
    );
    let kill_signal = config["kill_signal"].as_str().expect("fly: kill_signal");
    assert_eq!(
        kill_signal,
        image_stop_signal(),
        "fly: kill_signal is the image's stop signal"
    );

    let readme = read("fly/README.md");
    let first_deploy = readme
        .lines()
        .find(|line| line.trim_start().starts_with("fly deploy"))
        .expect("fly README shows fly deploy");
    assert!(
        first_deploy.contains("--ha=false"),
        "fly: the first deploy must pass --ha=false (Fly creates two Machines otherwise)"
    );
    assert!(
        first_deploy.contains("--config deploy/fly/fly.toml"),
        "fly: the deploy command uses this recipe"
    );
    assert!(
        readme.contains("fly launch --no-deploy"),
        "fly: README starts with fly launch --no-deploy"
    );
    for line in readme
        .lines()
        .filter(|line| line.contains("fly scale count"))
    {
        let count = line
            .split("fly scale count")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|count| count.trim_matches('`').parse::<u32>().ok());
        if let Some(count) = count {
            assert!(
                count <= 1 || line.contains("Do not") || line.contains("Never"),
                "fly: README suggests {count} Machines: {line}"
            );
        }
    }
}

#[test]
fn heroku_builds_the_dockerfile_into_one_web_dyno() {
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&read("heroku/heroku.yml")).expect("heroku.yml is YAML");
    let builds = manifest["build"]["docker"]
        .as_mapping()
        .expect("heroku.yml: build.docker");
    assert_eq!(builds.len(), 1, "heroku.yml builds one process type");
    let dockerfile = manifest["build"]["docker"]["web"]
        .as_str()
        .expect("heroku.yml: build.docker.web");
    assert_exists(&repo_root().join(dockerfile), "heroku.yml's Dockerfile");
    assert!(
        manifest.get("run").is_none(),
        "heroku.yml: the image's entrypoint starts the dyno"
    );

    let app = recipes::heroku_app_json();
    assert_eq!(app["stack"], "container", "app.json: container stack");
    let formation = app["formation"].as_object().expect("app.json: formation");
    assert_eq!(formation.len(), 1, "app.json: one process type");
    assert_eq!(
        app["formation"]["web"]["quantity"], 1,
        "app.json: one web dyno"
    );
    for (name, spec) in app["env"].as_object().expect("app.json env") {
        let description = spec["description"].as_str().unwrap_or("");
        assert!(
            !description.is_empty(),
            "app.json: {name} needs a description"
        );
    }

    let readme = read("heroku/README.md");
    assert!(
        readme.contains("heroku ps:scale web=1"),
        "heroku: README keeps one dyno"
    );
    assert!(
        !readme
            .lines()
            .any(|line| line.contains("ps:scale web=") && !line.contains("web=1")),
        "heroku: README scales web beyond one dyno"
    );
    // Heroku reads both files from the repository root only: copies there must match.
    for file in ["heroku.yml", "app.json"] {
        let root_copy = repo_root().join(file);
        if root_copy.exists() {
            assert_eq!(
                std::fs::read_to_string(&root_copy).unwrap(),
                read(&format!("heroku/{file}")),
                "{file} at the repository root differs from deploy/heroku/{file}"
            );
        }
    }
}

#[test]
fn lightsail_runs_one_node_with_a_health_check_and_takes_secrets_only_from_the_environment() {
    let service: Json =
        serde_json::from_str(&read("lightsail/service.json")).expect("service.json is JSON");
    assert_eq!(service["scale"], 1, "lightsail: scale 1");
    assert!(service["power"].is_string(), "lightsail: power is set");
    let containers: Json =
        serde_json::from_str(&read("lightsail/containers.json")).expect("containers.json is JSON");
    let endpoint: Json = serde_json::from_str(&read("lightsail/public-endpoint.json"))
        .expect("public-endpoint.json is JSON");
    let name = endpoint["containerName"].as_str().expect("containerName");
    assert!(
        containers[name].is_object(),
        "containers.json defines {name}"
    );
    assert_eq!(
        endpoint["healthCheck"]["successCodes"], "200",
        "lightsail: only 200 is healthy (503 means the database does not answer)"
    );

    // The script passes the operator's values through exactly, however awkward.
    let (required, optional) = recipes::lightsail_script_vars();
    for name in BUCKET_SETTINGS {
        assert!(
            required.iter().any(|var| var == name),
            "deploy.sh requires {name}"
        );
    }
    // Every setting docs/replication.md offers the operator reaches the container when set
    // (DB_PATH aside: the image's default is where Lightsail's disk is).
    for name in documented_image_settings() {
        assert!(
            name == "DB_PATH" || required.contains(&name) || optional.contains(&name),
            "deploy.sh drops {name}, which docs/replication.md offers"
        );
    }
    let mut env = recipes::awkward_values(&required);
    env.extend(recipes::awkward_values(&optional));
    let (ok, stdout, stderr) = recipes::lightsail_render(&env);
    assert!(ok, "deploy.sh render failed:\n{stderr}");
    let request: Json = serde_json::from_str(&stdout).expect("render prints JSON");
    let deployed = &request["containers"][name]["environment"];
    for (var, value) in &env {
        assert_eq!(
            deployed[var].as_str(),
            Some(value.as_str()),
            "deploy.sh passes {var} through"
        );
    }
    assert_eq!(
        request["serviceName"], service["serviceName"],
        "deploy.sh targets service.json's service"
    );

    // And refuses to deploy without each required one.
    for missing in &required {
        let mut partial = recipes::awkward_values(&required);
        partial.remove(missing);
        let (ok, stdout, stderr) = recipes::lightsail_render(&partial);
        assert!(!ok, "deploy.sh render succeeded without {missing}");
        assert!(
            stdout.is_empty(),
            "deploy.sh printed a request without {missing}"
        );
        assert!(
            stderr.contains(missing.as_str()),
            "deploy.sh names the missing {missing}: {stderr}"
        );
    }
    // The script builds the repository's Dockerfile.
    assert_exists(
        &repo_root().join("Dockerfile"),
        "the Dockerfile deploy.sh builds",
    );
}

#[test]
fn the_local_stack_replicates_to_its_own_bucket_with_one_app_container() {
    let compose = recipes::compose();
    let services = compose["services"].as_mapping().expect("compose services");
    let app = &compose["services"]["logpaste"];
    let context = app["build"]["context"]
        .as_str()
        .expect("logpaste build context");
    let context_dir = recipes::deploy_dir().join("local").join(context);
    assert_eq!(
        context_dir.canonicalize().expect("build context exists"),
        repo_root().canonicalize().unwrap(),
        "local: the image is built from the repository root"
    );
    let dockerfile = app["build"]["dockerfile"].as_str().unwrap_or("Dockerfile");
    assert_exists(
        &context_dir.join(dockerfile),
        "local: the Dockerfile compose builds",
    );
    let replicas = app["deploy"]["replicas"].as_u64().unwrap_or(1);
    assert_eq!(replicas, 1, "local: one logpaste container");
    assert!(app.get("scale").is_none(), "local: no scale on logpaste");

    // DB_REPLICA_URL points at the bucket the stack creates, on the stack's own server.
    let env = recipes::local().env;
    let url = env["DB_REPLICA_URL"].as_str();
    let bucket = url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split(['/', '?']).next())
        .expect("an s3:// replica URL");
    let endpoint = url
        .split_once("endpoint=")
        .map(|(_, rest)| rest.split('&').next().unwrap_or(""))
        .expect("the replica URL names the local endpoint");
    let endpoint_host = endpoint
        .strip_prefix("http://")
        .and_then(|rest| rest.split(':').next())
        .expect("an http:// endpoint");
    assert!(
        services.contains_key(endpoint_host),
        "local: the endpoint host {endpoint_host} is a service of the stack"
    );
    let creator = &compose["services"]["create-bucket"];
    let command = serde_yaml::to_string(&creator["command"]).unwrap();
    assert!(
        command.contains(&format!("--bucket {bucket}")),
        "local: create-bucket creates {bucket}: {command}"
    );
    assert!(
        command.contains(endpoint),
        "local: create-bucket talks to {endpoint}"
    );
    assert_eq!(
        app["depends_on"]["create-bucket"]["condition"], "service_completed_successfully",
        "local: logpaste starts after the bucket exists"
    );
    // Nothing listens beyond this machine.
    for (service, spec) in services {
        for mapping in spec["ports"].as_sequence().into_iter().flatten() {
            let mapping = mapping.as_str().expect("port mapping as a string");
            assert!(
                mapping.starts_with("127.0.0.1:"),
                "local: {service:?} publishes {mapping} beyond 127.0.0.1"
            );
        }
    }
}

#[test]
fn the_docs_name_only_variables_the_image_reads_and_their_json_parses() {
    let image = image_env::derive();
    let mut script_inputs: BTreeSet<String> = BTreeSet::new();
    for script in shell_scripts() {
        let text = std::fs::read_to_string(&script).unwrap();
        script_inputs.extend(image_env::shell_variable_references(&text));
    }
    for doc in image_env::files_under(&recipes::deploy_dir())
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
    {
        let text = std::fs::read_to_string(&doc).unwrap();
        let shown = doc.strip_prefix(repo_root()).unwrap().display().to_string();
        for (language, block) in fenced_blocks(&text) {
            if language == "json" {
                serde_json::from_str::<Json>(&block).unwrap_or_else(|err| {
                    panic!("{shown}: a json block does not parse ({err}):\n{block}")
                });
            }
            if language != "sh" {
                continue;
            }
            for word in block.split_whitespace() {
                let Some((name, _)) = word.trim_start_matches('"').split_once('=') else {
                    continue;
                };
                if !image_env::is_env_name(name) {
                    continue;
                }
                assert!(
                    image.reads(name) || script_inputs.contains(name) || CLI_VARIABLES.contains(&name),
                    "{shown}: a command sets {name}, which neither the image nor a deploy script reads"
                );
            }
        }
    }
}

#[test]
fn deploy_scripts_pass_shellcheck() {
    let scripts = shell_scripts();
    assert!(!scripts.is_empty(), "no shell script found under deploy/");
    let output = Command::new("shellcheck")
        .args(&scripts)
        .output()
        .unwrap_or_else(|err| {
            panic!("shellcheck is not installed (scripts/setup installs it): {err}")
        });
    assert!(
        output.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn shell_scripts() -> Vec<PathBuf> {
    image_env::files_under(&recipes::deploy_dir())
        .into_iter()
        .filter(|path| {
            std::fs::read_to_string(path)
                .map(|text| {
                    text.starts_with("#!/usr/bin/env bash") || text.starts_with("#!/bin/sh")
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Fenced code blocks of a markdown file, with their language.
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((info.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(trimmed);
            body.push('\n');
        }
    }
    blocks
}

/// The image's stop signal: its `STOPSIGNAL`, else Docker's default.
fn image_stop_signal() -> String {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    dockerfile
        .lines()
        .find_map(|line| line.trim().strip_prefix("STOPSIGNAL "))
        .map(|signal| signal.trim().to_string())
        .unwrap_or_else(|| "SIGTERM".to_string())
}

/// How long the image needs to stop cleanly, in seconds: s6-overlay's grace times from the
/// Dockerfile's ENV (milliseconds; s6-overlay's defaults when absent) plus the final
/// Litestream sync, which takes up to one sync interval and a round trip: counted as 10 s.
fn image_stop_seconds() -> i64 {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let millis = |name: &str, default: i64| -> i64 {
        dockerfile
            .split_whitespace()
            .find_map(|word| word.strip_prefix(&format!("{name}=")))
            .map(|value| {
                value
                    .trim_matches(['"', '\\'])
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={value}"))
            })
            .unwrap_or(default)
    };
    let grace = millis("S6_SERVICES_GRACETIME", 3000) + millis("S6_KILL_GRACETIME", 3000);
    (grace + 999) / 1000 + 10
}

/// `docker build` sees only what .dockerignore lets through: every file `cargo build`
/// reads must be in it, or the image's binary differs from the one tested here (the
/// SQLite options in .cargo/config.toml, for one).
#[test]
fn the_image_build_context_holds_every_file_the_build_reads() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    // The one form this check understands: exclude everything, then name what goes in.
    assert_eq!(patterns.first(), Some(&"*"), ".dockerignore: {patterns:?}");
    let included: BTreeSet<&str> = patterns[1..]
        .iter()
        .map(|p| {
            p.strip_prefix('!')
                .unwrap_or_else(|| panic!(".dockerignore: {p} after `*`"))
                .trim_end_matches('/')
        })
        .collect();
    let always = [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "src",
        "migrations",
        "templates",
        "static",
    ];
    let if_present = ["build.rs"]
        .into_iter()
        .filter(|f| repo_root().join(f).exists());
    for file in always.into_iter().chain(if_present) {
        assert!(
            repo_root().join(file).exists(),
            "{file} is not in the repository"
        );
        assert!(
            included.contains(file),
            "{file} is not in the image's build context"
        );
    }
}

fn assert_exists(path: &Path, what: &str) {
    assert!(path.is_file(), "{what} does not exist: {}", path.display());
}

/// The variables in the first column of docs/replication.md's "Bucket settings" table.
fn documented_image_settings() -> Vec<String> {
    let docs = std::fs::read_to_string(repo_root().join("docs/replication.md"))
        .expect("read docs/replication.md");
    let table = docs
        .split("## Bucket settings")
        .nth(1)
        .expect("docs/replication.md has a Bucket settings section");
    let names: Vec<String> = table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_string))
        .collect();
    assert!(
        names.len() >= 8,
        "the table lists the bucket settings: {names:?}"
    );
    names
}

/// Heroku builds heroku.yml's Dockerfile with a classic builder, without BuildKit: no
/// BuildKit-only instruction flags (`RUN --mount`, `COPY --chmod`, ...), no frontend
/// `# syntax=` directive, no heredocs, none of the platform variables only BuildKit sets,
/// and TARGETARCH only with a fallback.
#[test]
fn the_dockerfile_builds_without_buildkit() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    for (number, line) in dockerfile.lines().enumerate() {
        let line = line.trim();
        let at = number + 1;
        assert!(
            !line.to_ascii_lowercase().starts_with("# syntax="),
            "line {at}: a syntax directive needs BuildKit: {line}"
        );
        if line.starts_with('#') {
            continue;
        }
        // Instruction flags the classic builder does not know (it knows COPY --from and
        // --chown, and FROM --platform with a literal value).
        for flag in [
            "--mount",
            "--chmod",
            "--link",
            "--network",
            "--security",
            "--parents",
            "--exclude",
            "--checksum",
            "--keep-git-dir",
        ] {
            assert!(
                !line.contains(flag),
                "line {at}: {flag} needs BuildKit: {line}"
            );
        }
        for variable in ["BUILDPLATFORM", "TARGETPLATFORM", "BUILDARCH", "TARGETOS"] {
            assert!(
                !line.contains(variable),
                "line {at}: {variable} is only set by BuildKit: {line}"
            );
        }
        assert!(!line.contains("<<"), "line {at}: heredocs need BuildKit");
        let bare_uses = line.matches("TARGETARCH").count();
        let with_fallback = line.matches("${TARGETARCH:-").count();
        let declared = line == "ARG TARGETARCH";
        assert!(
            declared || bare_uses == with_fallback,
            "line {at}: TARGETARCH is empty without BuildKit; use ${{TARGETARCH:-...}}: {line}"
        );
    }
}

/// LogPaste's image kept its database at /app/data/store.db, and its README runs it with
/// `--volume "${PWD}/data:/app/data"`. Moved to this image unchanged, that volume must
/// hold the database the app serves: in the image, /app/data is a link to the folder of
/// the image's DB_PATH (a mount at a link lands on its target), not a folder of its own.
#[test]
fn a_volume_at_logpastes_app_data_holds_the_database() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("the Dockerfile has a runtime stage");
    let db_path = runtime
        .split_whitespace()
        .find_map(|word| word.strip_prefix("DB_PATH="))
        .expect("the runtime stage sets DB_PATH")
        .trim_matches(['"', '\\']);
    let db_dir = std::path::Path::new(db_path)
        .parent()
        .expect("DB_PATH has a folder")
        .to_str()
        .unwrap();
    let commands = runtime.replace("\\\n", " ");
    let link = format!("ln -s {db_dir} /app/data");
    assert!(
        commands
            .lines()
            .any(|line| line.trim_start().starts_with("RUN ") && line.contains(&link)),
        "the runtime stage does not run `{link}`: a volume at LogPaste's /app/data would \
         be ignored and the app would start on an empty {db_path}"
    );
}

/// The "Coming from LogPaste" section of docs/replication.md.
fn coming_from_logpaste_section() -> String {
    let docs = std::fs::read_to_string(repo_root().join("docs/replication.md"))
        .expect("read docs/replication.md");
    let (_, section) = docs
        .split_once("## Coming from LogPaste")
        .expect("docs/replication.md has a Coming from LogPaste section");
    section.split("\n## ").next().unwrap_or(section).to_string()
}

/// A LogPaste operator on Heroku who only swaps the image keeps no DB_PATH: the dyno runs
/// without root and cannot write the image's /data, so the restore or the app fails with
/// "Permission denied". The migration notes must name the Heroku recipe's DB_PATH.
#[test]
fn the_logpaste_migration_notes_give_heroku_its_db_path() {
    let app = recipes::heroku_app_json();
    let db_path = app["env"]["DB_PATH"]["value"]
        .as_str()
        .expect("deploy/heroku/app.json sets DB_PATH");
    let section = coming_from_logpaste_section();
    assert!(
        section.contains("Heroku") && section.contains(&format!("DB_PATH={db_path}")),
        "Coming from LogPaste does not tell Heroku operators to set DB_PATH={db_path}"
    );
}

/// LogPaste's make-fly-config writes `kill_timeout = 5`; an operator who keeps that
/// fly.toml must be told to give the stop's last sync the recipe's time.
#[test]
fn the_logpaste_migration_notes_give_fly_the_recipes_kill_timeout() {
    let kill_timeout = recipes::fly_toml()["kill_timeout"]
        .as_integer()
        .expect("deploy/fly/fly.toml sets kill_timeout");
    let section = coming_from_logpaste_section();
    assert!(
        section.contains(&format!("kill_timeout = {kill_timeout}")),
        "Coming from LogPaste does not tell Fly.io operators to set kill_timeout = {kill_timeout}"
    );
}

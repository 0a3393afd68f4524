//! Secrets never reach the container's log: not the bucket credentials from the
//! environment, and not credentials an operator wrote into DB_REPLICA_URL itself (a
//! `user:password@` before the bucket, or a fragment). Run for real: entrypoint, restore,
//! Litestream and the app, a paste replicated, then restored on a fresh host.

use std::fs;

use crate::harness::*;

const BUCKET: &str = "logpaste-secrets";
const PATH: &str = "logpaste";
const URL_USER: &str = "url-user-7c1f";
const URL_PASSWORD: &str = "url-password-9d2e";
const URL_FRAGMENT: &str = "url-fragment-4b8a";

/// Everything the stack wrote, whole (the harness's `log_text` keeps only the tail).
fn whole_log(path: &std::path::Path) -> String {
    String::from_utf8_lossy(&fs::read(path).expect("the stack's log")).into_owned()
}

fn assert_no_secrets(log: &str) {
    for secret in [SECRET_KEY, URL_USER, URL_PASSWORD, URL_FRAGMENT] {
        assert!(
            !log.contains(secret),
            "the log shows the secret {secret:?}:\n{log}"
        );
    }
}

/// The credentials are Litestream's alone, those in the replica URL too: the app's process
/// (Litestream's child in the litestream-exec mode these stacks run) is started without
/// them.
fn assert_the_app_holds_no_bucket_credentials(stack: &Stack) {
    let (_, app) = stack.litestream_and_app_pids();
    let environ = fs::read(format!("/proc/{app}/environ")).expect("the app's environment");
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        environ.split('\0').any(|var| var.starts_with("DB_PATH=")),
        "not the app's environment: {environ}"
    );
    for name in ["LITESTREAM_ACCESS_KEY_ID=", "LITESTREAM_SECRET_ACCESS_KEY="] {
        assert!(
            !environ.split('\0').any(|var| var.starts_with(name)),
            "the app was given {name}"
        );
    }
    for secret in [SECRET_KEY, URL_USER, URL_PASSWORD, URL_FRAGMENT] {
        assert!(
            !environ.contains(secret),
            "the app holds the secret {secret:?}"
        );
    }
    // It still knows that Litestream replicates (and so owns the WAL's checkpoints).
    assert!(
        environ
            .split('\0')
            .any(|var| var.starts_with("DB_REPLICA_URL=") && var.len() > "DB_REPLICA_URL=".len()),
        "the app no longer knows it is replicated: {environ}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_environment_or_the_replica_url_never_reach_the_log() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = format!(
        "s3://{URL_USER}:{URL_PASSWORD}@{BUCKET}/{PATH}?endpoint={}#{URL_FRAGMENT}",
        moto.endpoint()
    );
    let http = http_client();

    let first_host = dir.path().join("first").join("data");
    fs::create_dir(dir.path().join("first")).expect("first host's folder");
    let mut first = Stack::start(&StackConfig::new(&first_host, &replica), "stack").await;
    let id = put_paste(&http, &first.base_url, b"a paste worth keeping".to_vec()).await;
    assert_the_app_holds_no_bucket_credentials(&first);
    first.wait_replicating(&moto, BUCKET, PATH).await;
    assert!(first.stop().await.success(), "the first host stops cleanly");
    let first_log = whole_log(&dir.path().join("first").join("stack.log"));
    assert!(
        first_log.contains(&format!(
            "restoring {} from s3://***@{BUCKET}/{PATH} unless",
            first.db_path.display()
        )),
        "the restore step names the replica without its credentials:\n{first_log}"
    );
    assert_no_secrets(&first_log);

    // A fresh host restores from the same URL: the restore itself runs this time.
    let second_host = dir.path().join("second").join("data");
    fs::create_dir(dir.path().join("second")).expect("second host's folder");
    let mut second = Stack::start(&StackConfig::new(&second_host, &replica), "stack").await;
    assert_serves(&http, &second, &[(id, b"a paste worth keeping".to_vec())]).await;
    assert!(
        second.stop().await.success(),
        "the second host stops cleanly"
    );
    assert_no_secrets(&whole_log(&dir.path().join("second").join("stack.log")));
}

/// A password written into DB_REPLICA_URL as is, with a character the URL syntax reserves
/// (`/`, `?`, `#`, `%`, a space, `^`...), makes a URL Go cannot parse: Litestream's restore
/// then fails with the whole URL, password and all, in its message, and the restore line
/// showed it too. The entrypoint refuses such a URL first, with one line that says what to
/// do and shows nothing of it; a word before the first ':' that is not a scheme (an access
/// key written where the scheme goes) is never shown either. Run for real: the entrypoint
/// in the litestream-exec mode, with the real Litestream.
#[test]
fn a_replica_url_go_cannot_parse_is_refused_without_showing_its_credentials() {
    let password_fragments = ["hunter2", "Secret9"];
    let urls = [
        "sftp://backup:hunter2/Secret9@127.0.0.1:1/logpaste",
        "sftp://backup:hunter2?Secret9@127.0.0.1:1/logpaste",
        "sftp://backup:hunter2#Secret9@127.0.0.1:1/logpaste",
        "webdavs://backup:hunter2%Secret9@127.0.0.1:1/logpaste",
        "nats://backup:hunter2^Secret9@127.0.0.1:1/logpaste",
        "sftp://backup:hunter2 Secret9@127.0.0.1:1/logpaste",
        // No scheme: the first word is the credential, not a scheme to name.
        "hunter2:Secret9@bucket/logpaste?endpoint=http://127.0.0.1:1",
    ];
    for url in urls {
        let dir = temp_dir();
        let env = [
            ("DB_PATH", dir.path().join("store.db").display().to_string()),
            ("DB_REPLICA_URL", url.to_string()),
            ("LOGPASTE_RUN_MODE", "litestream-exec".to_string()),
        ];
        let output = container_command(&repo_path("docker_entrypoint.sh"), &env)
            .output()
            .expect("run the entrypoint");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for fragment in password_fragments {
            assert!(
                !log.to_lowercase().contains(&fragment.to_lowercase()),
                "{url}: the log shows {fragment:?}:\n{log}"
            );
        }
        assert_eq!(output.status.code(), Some(2), "{url}: refused:\n{log}");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "{url}: one line:\n{log}");
        assert!(lines[0].contains("DB_REPLICA_URL"), "{url}: {log}");
        assert!(
            !dir.path().join("store.db").exists(),
            "{url}: nothing started"
        );
    }
}

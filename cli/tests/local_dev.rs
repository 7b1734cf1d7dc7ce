//! `docs/local-development.md`, command by command: moto, `kairos serve --aws-endpoint` to
//! provision (its log gives the variables), the variables in an env file, `cargo lambda
//! watch`, and `cargo lambda invoke` with the payloads in `events/`. moto and cargo-lambda
//! come from `.venv` (`./test.sh` installs both).

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The store key `serve` and the functions share (on AWS both read it from SSM).
const STORE_KEY: &str = "0123456789abcdef0123456789abcdef";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A background process in its own group, killed with its children when dropped
/// (`cargo lambda watch` starts the functions as children).
struct Background(Child);

impl Background {
    fn spawn(command: &mut Command) -> Background {
        Background(
            command
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {command:?} ({e}); run ./test.sh")),
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cargo lambda invoke FUNCTION --data-file FILE`: the function's answer. The first
/// invocation of a function waits for its build.
fn invoke(path: &str, port: u16, function: &str, file: &str) -> Value {
    let out = Command::new("cargo")
        .args(["lambda", "invoke", function, "--data-file", file])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(root())
        .env("PATH", path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "invoke {function} {file}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap()
}

#[test]
fn the_documented_local_lambda_recipe_works() {
    let venv = root().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-dev");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    // 2. The emulator.
    let moto_port = free_port();
    let _moto = Background::spawn(
        Command::new(venv.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("moto listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", moto_port)).is_ok()
    });
    let endpoint = format!("http://127.0.0.1:{moto_port}");

    // 3. Provision through `kairos serve --aws-endpoint`; its log names the resources.
    let log = work.join("serve.log");
    let _serve = Background::spawn(
        Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--aws-endpoint",
                &endpoint,
            ])
            .envs([
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("KAIROS_API_KEY", "test-key"),
                ("KAIROS_STORE_KEY", STORE_KEY),
                ("RUST_LOG", "info"),
                ("NO_COLOR", "1"),
            ])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null()),
    );
    let mut provisioned = String::new();
    wait_for("the provisioning log line", Duration::from_secs(60), || {
        let mut text = String::new();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
        match text.lines().find(|l| l.contains("provisioned")) {
            Some(line) => {
                provisioned = line.to_string();
                true
            }
            None => false,
        }
    });
    let variable = |name: &str| -> String {
        provisioned
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} not in the log: {provisioned}"))
            .to_string()
    };

    // 4. The env file.
    let mut env = format!(
        "AWS_ENDPOINT_URL={endpoint}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n"
    );
    for name in [
        "KAIROS_TABLE",
        "KAIROS_WORK_QUEUE_URL",
        "KAIROS_DELAY_QUEUE_URL",
        "KAIROS_DISPATCH_QUEUE_URL",
    ] {
        env.push_str(&format!("{name}={}\n", variable(name)));
    }
    env.push_str("KAIROS_FROM_ADDRESS=kairos@example.com\nKAIROS_API_KEY=test-key\n");
    env.push_str(&format!("KAIROS_STORE_KEY={STORE_KEY}\n"));
    let env_file = work.join("lambda.env");
    std::fs::write(&env_file, env).unwrap();

    // 5. The runtime emulator.
    let port = free_port();
    let _watch = Background::spawn(
        Command::new("cargo")
            .args(["lambda", "watch", "--ignore-changes", "--env-file"])
            .arg(&env_file)
            .args(["--invoke-port", &port.to_string()])
            .current_dir(root())
            .env("PATH", &path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("watch.log")).unwrap()),
    );
    wait_for(
        "cargo lambda watch listening",
        Duration::from_secs(60),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );

    // 6. The invocations.
    let put = invoke(&path, port, "intake", "events/intake/put-workflow.json");
    assert_eq!(put["statusCode"], 200, "{put}");
    assert_eq!(body(&put)["id"], "welcome");
    let post = invoke(&path, port, "intake", "events/intake/post-event.json");
    assert_eq!(post["statusCode"], 202, "{post}");
    assert_eq!(body(&post)["accepted"], 1);
    // `serve` processes the work queue, as evaluate would on AWS: Ann appears.
    let mut contact = Value::Null;
    wait_for("ann created", Duration::from_secs(30), || {
        contact = invoke(&path, port, "intake", "events/intake/get-contact.json");
        contact["statusCode"] == 200
    });
    assert_eq!(body(&contact)["id"], "ann");
    let evaluate = invoke(
        &path,
        port,
        "evaluate",
        "events/evaluate/batch-with-poison.json",
    );
    let failures = evaluate["batchItemFailures"]
        .as_array()
        .expect("a batch answer");
    assert_eq!(
        failures.len(),
        1,
        "only the poison record fails: {evaluate}"
    );
    assert_eq!(
        failures[0]["itemIdentifier"],
        "22222222-2222-2222-2222-222222222222"
    );
}

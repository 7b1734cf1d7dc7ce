//! `kairos deploy` against the intake function's router on moto: first deploy, a no-op
//! redeploy, a changed workflow as a new version, a broken file that deploys nothing.

use std::path::Path;

use kairos_cli::deploy::{run, Failure, Options};
use kairos_tests::{call, intake_url, stack, Moto, API_KEY};

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_to_intake_on_moto() {
    let moto = Moto::start();
    let (aws, _) = stack(&moto).await;
    let url = intake_url(&aws, None).await;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-moto");
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir, "templates/hello.txt", "Hello!");
    write(
        &dir,
        "definitions.yaml",
        "templates:\n  hello: { subject: Hello, text: templates/hello.txt }\n",
    );
    write(&dir, "welcome.yaml", "id: welcome\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hello } }\n");
    let options = Options {
        dir: dir.clone(),
        url,
        key: API_KEY.into(),
        dry_run: false,
    };
    let version = || async {
        call(&aws, "GET", "/v1/workflows/welcome", "application/json", "")
            .await
            .1["version"]
            .as_u64()
    };

    run(&options).await.expect("the first deploy");
    assert_eq!(version().await, Some(1));
    run(&options).await.expect("a redeploy");
    assert_eq!(version().await, Some(1), "nothing changed, no new version");

    write(&dir, "welcome.yaml", "id: welcome\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hello } }\n  - { id: done, tag: { add: [welcomed] } }\n");
    run(&options).await.expect("a changed workflow");
    assert_eq!(version().await, Some(2));

    write(&dir, "welcome.yaml", "id: welcome\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: nowhere } }\n");
    assert!(matches!(run(&options).await, Err(Failure::Invalid(_))));
    assert_eq!(version().await, Some(2), "a broken file deploys nothing");
}

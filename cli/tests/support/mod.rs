//! `kairos serve` as the tests start it: on a fresh data folder, a free port, the given
//! keys; stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `kairos serve` on `data` (emptied first) with `KAIROS_API_KEY = key` and the
    /// `extra` variables; waits for the line that says where it listens.
    pub fn start(data: &Path, key: &str, extra: &[(&str, &str)]) -> Server {
        let _ = std::fs::remove_dir_all(data);
        let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("KAIROS_API_KEY", key)
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kairos serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = serde_json::from_str::<Value>(&line).expect("the first line says where")
            ["listening"]
            .as_str()
            .unwrap()
            .to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

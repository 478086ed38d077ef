// Source: https://github.com/jdx/fnox/pull/339
// What happened: before `exec()`-ing the child, the PR persisted the secret-holding temp
// files with `tf.into_temp_path().keep()`. The review pointed out that a successful exec
// never runs destructors anyway, while a failed exec now leaks the secrets on disk; the
// loop was unnecessary. (Our own reconstruction of the pattern.)
use tempfile::NamedTempFile;

pub fn exec_with_secrets(temp_files: Vec<NamedTempFile>, command: &mut std::process::Command) {
    for tf in temp_files {
        // ruleid: temp-path-unguarded
        tf.into_temp_path().keep().ok();
    }
    let _ = command.status();
}

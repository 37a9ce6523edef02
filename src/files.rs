//! Files the emulator writes that hold secrets (the `--key-file` signing key, the `--tls-key`
//! private key): readable by their owner only, from the moment they exist.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` (creating its directory), mode 0600 on Unix. The mode is set at
/// creation, so no other user can open the file between its creation and a later `chmod`, and
/// again on an existing file, which keeps its old mode otherwise.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_file_is_owner_only_even_when_it_existed() {
        let dir = std::env::temp_dir().join(format!("ee-private-{}", uuid::Uuid::new_v4()));
        let fresh = dir.join("nested/key.pem");
        write_private(&fresh, b"secret").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o600);
        let old = dir.join("old.pem");
        std::fs::write(&old, b"x").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&old, b"secret").unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"secret");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

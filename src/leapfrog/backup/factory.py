"""`open_storage`: the backup storage a store's `backups:` options describe.

    open_storage(options: BackupOptions | None, state_dir: Path,
                 secrets: SecretSource | None = None) -> Storage

- `options`: the component's `backups:` block (None when it declares none);
- `state_dir`: the stack's state directory (`StatePaths.root`). It holds the default
  storage (`<state_dir>/backups`) and the named secrets (`<state_dir>/secrets/named`)
  that `s3:` credentials and `encryption:` refer to;
- `secrets`: where those names are looked up instead (walpush gets them in a file).

`storage:` is a directory (DirectoryStorage) or `s3://BUCKET/PREFIX` (S3Storage, with
`s3:` endpoint, region and the secrets holding the credentials; without them, boto3's
own chain: AWS_* variables, ~/.aws). With `encryption: NAME` the storage's keyring
seals new objects with the key in secret NAME (generated on the first backup when the
secret does not exist); a keyring is always attached, so encrypted backups can be read
whatever the options say now. Nothing is contacted here: `Storage.check()` does that.
"""

from __future__ import annotations

from pathlib import Path

from leapfrog.backup.directory import DirectoryStorage
from leapfrog.backup.encryption import Keyring
from leapfrog.backup.storage import Storage, StorageError
from leapfrog.components._backup_options import BackupOptions, parse_s3_url
from leapfrog.shared.named_secrets import SecretSource, named_secrets

__all__ = ["open_storage", "secret_names"]


def open_storage(
    options: BackupOptions | None, state_dir: Path, secrets: SecretSource | None = None
) -> Storage:
    secrets = secrets or named_secrets(state_dir)
    location = options.storage if options is not None else None
    storage: Storage
    if location is None:
        storage = DirectoryStorage(state_dir / "backups")
    elif (parsed := parse_s3_url(location)) is not None:
        from leapfrog.backup.s3 import S3Storage  # boto3 loads only for an S3 storage

        assert options is not None
        bucket, prefix = parsed
        s3 = options.s3
        storage = S3Storage(
            bucket,
            prefix,
            endpoint=s3.endpoint if s3 else None,
            region=s3.region if s3 else "us-east-1",
            access_key=_secret(secrets, s3.access_key_secret if s3 else None, "access_key"),
            secret_key=_secret(secrets, s3.secret_key_secret if s3 else None, "secret_key"),
        )
    else:
        storage = DirectoryStorage(Path(location))
    storage.keyring = Keyring(secrets, options.encryption if options is not None else None)
    return storage


def _secret(secrets: SecretSource, name: str | None, field: str) -> str | None:
    if name is None:
        return None
    value = secrets.get(name)
    if value is None:
        raise StorageError(
            f"backups: s3: {field}_secret names the secret {name!r}, which is not set",
            hint=f"set it: `leapfrog secrets --set {name}` (reads the value from stdin)",
        )
    return value


def secret_names(options: BackupOptions) -> list[str]:
    """The named secrets the options refer to."""
    s3 = options.s3
    names = [s3.access_key_secret, s3.secret_key_secret] if s3 else []
    return [n for n in [*names, options.encryption] if n is not None]

/**
 * The HMAC chain key file: created 0600, and refused when group or others may access it (a key anyone on
 * the host can read lets them forge a chain that verifies). Every reader of a key file goes through here:
 * the spool's own `hmac.key`, the gateway's `audit.hmacKeyFile`, the CLI's `--hmac-key-file`, the demo.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { AUDIT_ERROR_CODES, FhirAuditError } from './errors.ts';

/** The error for a key file open to group or others (names the file and the fix, never the key). */
function modeError(path: string, mode: number): FhirAuditError {
  return new FhirAuditError(
    AUDIT_ERROR_CODES.keyFileMode,
    `the HMAC key file ${path} is open to group or others (mode 0${mode.toString(8)}); run \`chmod 600 ${path}\``,
    { status: 500 },
  );
}

/**
 * Read a key file's text (trimmed), refusing it (FW_AUDIT_KEY_FILE_MODE) when its mode gives group or others
 * any access. The mode is read from the open descriptor, so the file checked is the file read.
 * `fs` errors (ENOENT, EACCES) pass through.
 */
export function readKeyFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw modeError(path, mode);
    return readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
}

// scripts/apt-mirror.sh: the bookworm-backports entry is derived from the machine's configured
// apt sources (one-line .list and deb822 .sources), never a hard-coded mirror. Runs the shell
// functions on sample /etc/apt trees in a temporary directory (nothing on this machine changes).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'hstu-apt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let k = 0;

/** An apt directory with the given files; returns backports_line's output (null when it fails). */
function line(files: Record<string, string>): string | null {
  const dir = join(root, `apt${k++}`);
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  try {
    return execFileSync('bash', ['-c', 'source scripts/apt-mirror.sh && backports_line "$1"', 'x', dir], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const KEY = '/usr/share/keyrings/debian-archive-keyring.gpg';

describe('backports_line', () => {
  it('deb822 (Debian 12 default): the bookworm stanza, not security; its Signed-By kept', () => {
    expect(line({
      'sources.list.d/debian.sources': `Types: deb\n# comment\nURIs: http://mirror.example.lan/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: ${KEY}\n\nTypes: deb\nURIs: http://security.example.lan/debian-security\nSuites: bookworm-security\nComponents: main\n`,
    })).toBe(`deb [signed-by=${KEY}] http://mirror.example.lan/debian bookworm-backports main`);
  });

  it('deb822: disabled, deb-src-only and security stanzas are skipped; the first URI of several', () => {
    expect(line({
      'sources.list.d/a.sources': 'Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n',
      'sources.list.d/b.sources': 'Types: deb\nURIs: http://apt-cacher.lan:3142/debian http://other/debian\nSuites: bookworm\nComponents: main contrib\n',
    })).toBe('deb http://apt-cacher.lan:3142/debian bookworm-backports main');
  });

  it('deb822: an inline Signed-By key block is not copied (continuation lines ignored)', () => {
    expect(line({
      'sources.list.d/d.sources': 'Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF...\n -----END PGP PUBLIC KEY BLOCK-----\n',
    })).toBe('deb http://m.example/debian bookworm-backports main');
  });

  it('one-line sources.list: options and comments, security / cdrom / other suites skipped', () => {
    expect(line({
      'sources.list': `# deb http://commented.example/debian bookworm main\ndeb cdrom:[Debian 12]/ bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=${KEY}] http://proxy.corp:8080/debian bookworm main non-free-firmware\n`,
    })).toBe(`deb [signed-by=${KEY}] http://proxy.corp:8080/debian bookworm-backports main`);
    expect(line({ 'sources.list.d/x.list': 'deb http://ftp.de.debian.org/debian bookworm main\n' })).toBe('deb http://ftp.de.debian.org/debian bookworm-backports main');
  });

  it('no bookworm entry: fails (bootstrap then warns and falls back)', () => {
    expect(line({ 'sources.list': 'deb http://deb.debian.org/debian trixie main\n' })).toBeNull();
    expect(line({})).toBeNull();
  });
});

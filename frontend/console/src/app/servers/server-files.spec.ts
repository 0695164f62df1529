import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { signal } from '@angular/core';
import { ComponentFixture, TestBed } from '@angular/core/testing';
import { ApiError } from '../core/api-error';
import { Auth, type Me } from '../core/auth';
import { MAT_DIALOG_DATA, MatDialogRef } from '@angular/material/dialog';
import { joinPath, nameProblem } from '../shared/file-names';
import { FilePromptDialog } from '../shared/prompt-dialog';
import { fileCrumbs, ServerFiles } from './server-files';
import { fileErrorMessage, isArchive, isOctalMode, ServerFileEntry, ServerFilesApi, sortEntries } from './server-files-api';
import { highlight, languageOf } from './syntax-highlight';

const SERVER = { id: '6b1f9c2e-0000-4000-8000-000000000001', owner_id: 'owner' };

function entry(name: string, type: ServerFileEntry['type'] = 'file', size = 10): ServerFileEntry {
  return { name, type, size, mode: type === 'directory' ? '0755' : '0644', modified: '2026-11-30T12:00:00.000Z' };
}

/** An Auth with a fixed user and permission set (exact names, like the API's /auth/me). */
function signedInAs(userId: string, permissions: string[]): Partial<Auth> {
  const me = signal<Me | null>({ user: { id: userId, name: userId, email: `${userId}@test` }, roles: [], permissions });
  return { me: me.asReadonly(), can: (permission: string) => permissions.includes(permission) };
}

describe('server file helpers', () => {
  it('joins paths under the root and under a folder', () => {
    expect(joinPath('/', 'a.txt')).toBe('/a.txt');
    expect(joinPath('/world/data', 'level.dat')).toBe('/world/data/level.dat');
  });

  it('puts directories first, each group in the API\'s name order', () => {
    const sorted = sortEntries([entry('b.txt'), entry('plugins', 'directory'), entry('a.txt'), entry('config', 'directory'), entry('link', 'symlink')]);

    expect(sorted.map((e) => e.name)).toEqual(['config', 'plugins', 'a.txt', 'b.txt', 'link']);
  });

  it('accepts three octal digits with an optional leading 0 and nothing else', () => {
    expect(['644', '0755', '000', '777', ' 600 '].every(isOctalMode)).toBe(true);
    expect(['888', '7777', '64', 'rwx', '0o755', '1755', ''].some(isOctalMode)).toBe(false);
  });

  it('refuses names with a slash, dot names and empty names', () => {
    expect(nameProblem('plugins')).toBeNull();
    expect(nameProblem('a/b')).toBe('A name cannot contain /');
    expect(nameProblem('..')).toBe('Not a valid name');
    expect(nameProblem('  ')).toBe('A name is required');
    expect(nameProblem('x'.repeat(256))).toBe('At most 255 bytes');
  });

  it('recognises the archives decompress takes', () => {
    expect(['world.tar.gz', 'B.TGZ', 'x.tar'].every(isArchive)).toBe(true);
    expect(isArchive('notes.gz')).toBe(false);
  });

  it('names the missing permission of a 403 and the size cap of a 413', () => {
    const forbidden = new ApiError('You may not write the files of this server', 'FORBIDDEN', 403, [], { missing: ['files.write'] });
    const tooLarge = new ApiError('/big.log is 900000 bytes; at most 524288 go through contents/write', 'PAYLOAD_TOO_LARGE', 413, [], { size: 900000, max: 524288 });

    expect(fileErrorMessage(forbidden)).toBe('You lack files.write on this server. You may not write the files of this server.');
    expect(fileErrorMessage(tooLarge, true)).toMatch(/^Too large to edit here: the file manager opens and saves files up to 512 KiB\./);
  });

  it('keeps the API\'s sentence for a 413 outside the editor (an archive over the extraction cap)', () => {
    const archive = new ApiError('The archive expands to more than 8 GiB', 'PAYLOAD_TOO_LARGE', 413, [], { reason: 'archive_too_large' });

    expect(fileErrorMessage(archive)).toBe('The archive expands to more than 8 GiB');
  });

  it('builds breadcrumbs from the root', () => {
    expect(fileCrumbs('/world/region')).toEqual([
      { name: 'Server root', path: '/' },
      { name: 'world', path: '/world' },
      { name: 'region', path: '/world/region' },
    ]);
  });
});

describe('highlight', () => {
  it('picks a language by extension', () => {
    expect(languageOf('server.properties')).toBe('ini');
    expect(languageOf('config.YML')).toBe('yaml');
    expect(languageOf('.env')).toBe('ini');
    expect(languageOf('start.sh')).toBe('shell');
    expect(languageOf('eula.txt')).toBe('plain');
    expect(languageOf('Makefile')).toBe('shell');
  });

  it('escapes HTML and keeps every character of the text', () => {
    const text = '<script>alert("x")</script> & done\n';
    for (const lang of ['plain', 'xml', 'js', 'json', 'yaml'] as const) {
      const html = highlight(text, lang);
      const shown = html.replace(/<span class="tok-[a-z]+">|<\/span>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

      expect(html).not.toContain('<script>');
      expect(shown).toBe(text);
    }
  });

  it('colours keys, values and comments of server.properties', () => {
    const html = highlight('# Minecraft\nmax-players=20\nonline-mode=true\n', 'ini');

    expect(html).toBe('<span class="tok-comment"># Minecraft</span>\n<span class="tok-key">max-players</span>=<span class="tok-number">20</span>\n'
      + '<span class="tok-key">online-mode</span>=<span class="tok-literal">true</span>\n');
  });

  it('tells JSON keys from string values', () => {
    expect(highlight('{"motd": "hi", "n": 3}', 'json')).toBe(
      '{<span class="tok-key">"motd"</span>: <span class="tok-string">"hi"</span>, <span class="tok-key">"n"</span>: <span class="tok-number">3</span>}',
    );
  });

  it('colours YAML keys after list dashes', () => {
    expect(highlight('- name: lobby # main\n', 'yaml')).toBe('- <span class="tok-key">name</span>: lobby <span class="tok-comment"># main</span>\n');
  });
});

describe('FilePromptDialog', () => {
  function render(problem: (v: string) => string | null) {
    const close = vi.fn();
    TestBed.configureTestingModule({
      providers: [
        { provide: MAT_DIALOG_DATA, useValue: { title: 'Permissions', label: 'Mode', value: '644', problem } },
        { provide: MatDialogRef, useValue: { close } },
      ],
    });
    const fixture = TestBed.createComponent(FilePromptDialog);
    fixture.detectChanges();
    const input = fixture.nativeElement.querySelector('[data-testid="file-prompt-input"]') as HTMLInputElement;
    const form = fixture.nativeElement.querySelector('form') as HTMLFormElement;
    const submit = (value: string) => {
      input.value = value;
      input.dispatchEvent(new Event('input'));
      const event = new Event('submit', { cancelable: true });
      form.dispatchEvent(event);
      fixture.detectChanges();
      return event;
    };
    return { close, submit };
  }

  it('closes with the trimmed text and keeps the browser from submitting the form (which would reload the page)', () => {
    const { close, submit } = render((v) => (isOctalMode(v) ? null : 'Three octal digits'));

    const event = submit(' 755 ');

    expect(event.defaultPrevented).toBe(true);
    expect(close).toHaveBeenCalledWith('755');
  });

  it('stays open on text its rule refuses', () => {
    const { close, submit } = render((v) => (isOctalMode(v) ? null : 'Three octal digits'));

    submit('999');

    expect(close).not.toHaveBeenCalled();
  });
});

describe('ServerFilesApi', () => {
  let http: HttpTestingController;
  let api: ServerFilesApi;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    http = TestBed.inject(HttpTestingController);
    api = TestBed.inject(ServerFilesApi);
  });

  afterEach(() => http.verify());

  it('lists one page with path, limit and cursor', async () => {
    const page = api.list(SERVER.id, '/world', 'abc', 50);
    const req = http.expectOne((r) => r.url === `/api/v1/servers/${SERVER.id}/files/list`);
    expect(req.request.params.get('path')).toBe('/world');
    expect(req.request.params.get('limit')).toBe('50');
    expect(req.request.params.get('cursor')).toBe('abc');
    req.flush({ items: [entry('level.dat')], nextCursor: null });

    expect(await page).toEqual({ items: [entry('level.dat')], nextCursor: null });
  });

  it('writes the raw text with PUT and the path in the query', async () => {
    const done = api.write(SERVER.id, '/a.txt', 'hello');
    const req = http.expectOne((r) => r.url === `/api/v1/servers/${SERVER.id}/files/write`);
    expect(req.request.method).toBe('PUT');
    expect(req.request.params.get('path')).toBe('/a.txt');
    expect(await (req.request.body as Blob).text()).toBe('hello');
    req.flush({ size: 5 });

    expect(await done).toEqual({ size: 5 });
  });

  it('reads the { error, code } of a text request\'s 413 (the body arrives as a string)', async () => {
    const contents = api.contents(SERVER.id, '/big.log').catch((e: unknown) => e);
    http
      .expectOne((r) => r.url.endsWith('/files/contents'))
      .flush(JSON.stringify({ error: '/big.log is too large', code: 'PAYLOAD_TOO_LARGE', details: { max: 524288 } }), { status: 413, statusText: 'Payload Too Large' });

    const error = (await contents) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.status).toBe(413);
    expect(fileErrorMessage(error, true)).toContain('512 KiB');
  });
});

describe('ServerFiles', () => {
  let api: { [K in 'list' | 'contents' | 'write']: ReturnType<typeof vi.fn> };

  async function render(permissions: string[], userId = 'owner'): Promise<ComponentFixture<ServerFiles>> {
    TestBed.configureTestingModule({
      providers: [
        { provide: Auth, useValue: signedInAs(userId, permissions) },
        { provide: ServerFilesApi, useValue: api },
      ],
    });
    const fixture = TestBed.createComponent(ServerFiles);
    fixture.componentRef.setInput('server', SERVER);
    await settle(fixture);
    return fixture;
  }

  async function settle(fixture: ComponentFixture<ServerFiles>): Promise<void> {
    fixture.detectChanges();
    await fixture.whenStable();
    await new Promise((r) => setTimeout(r));
    fixture.detectChanges();
  }

  const q = (fixture: ComponentFixture<ServerFiles>, id: string) => fixture.nativeElement.querySelector(`[data-testid="${id}"]`) as HTMLElement | null;
  const names = (fixture: ComponentFixture<ServerFiles>) =>
    [...fixture.nativeElement.querySelectorAll('tbody tr')].map((tr) => (tr as HTMLElement).dataset['testid']);

  beforeEach(() => {
    api = {
      list: vi.fn(async (_id: string, _path: string, cursor: string | null) =>
        cursor ? { items: [entry('aaa-late', 'directory'), entry('zz.txt')], nextCursor: null } : { items: [entry('b.txt'), entry('world', 'directory')], nextCursor: 'c1' }),
      contents: vi.fn(async () => 'motd=hello\n'),
      write: vi.fn(async () => ({ size: 11 })),
    };
  });

  it('lists directories first and appends the next page on "Load more"', async () => {
    const fixture = await render(['files.read']);
    expect(names(fixture)).toEqual(['server-file-world', 'server-file-b.txt']);

    q(fixture, 'server-files-more')!.click();
    await settle(fixture);

    expect(api.list).toHaveBeenLastCalledWith(SERVER.id, '/', 'c1');
    expect(names(fixture)).toEqual(['server-file-aaa-late', 'server-file-world', 'server-file-b.txt', 'server-file-zz.txt']);
    expect(q(fixture, 'server-files-more')).toBeNull();
  });

  it('offers no write buttons to a user without files.write', async () => {
    const fixture = await render(['files.read', 'files.delete']);

    expect(q(fixture, 'server-files-new-file')).toBeNull();
    expect(q(fixture, 'server-files-mkdir')).toBeNull();
  });

  it('opens a file into the editor with its language and saves the edited text', async () => {
    const fixture = await render(['files.read', 'files.write']);
    expect(q(fixture, 'server-files-new-file')).not.toBeNull();

    q(fixture, 'server-file-open-b.txt')!.click();
    await settle(fixture);
    const area = q(fixture, 'code-editor-input') as HTMLTextAreaElement;
    expect(api.contents).toHaveBeenCalledWith(SERVER.id, '/b.txt');
    expect(area.value).toBe('motd=hello\n');
    area.value = 'motd=changed\n';
    area.dispatchEvent(new Event('input'));
    await settle(fixture);
    expect(q(fixture, 'server-files-editor-dirty')).not.toBeNull();
    q(fixture, 'server-files-save')!.click();
    await settle(fixture);

    expect(api.write).toHaveBeenCalledWith(SERVER.id, '/b.txt', 'motd=changed\n');
    expect(q(fixture, 'server-files-editor-dirty')).toBeNull();
  });

  it('shows the API\'s reason when a file is too large to edit, and stays on the list', async () => {
    api.contents.mockRejectedValue(new ApiError('/b.txt is 900000 bytes', 'PAYLOAD_TOO_LARGE', 413, [], { max: 524288 }));
    const fixture = await render(['files.read', 'files.write']);

    q(fixture, 'server-file-open-b.txt')!.click();
    await settle(fixture);

    expect(q(fixture, 'server-files-error')!.textContent).toContain('Too large to edit here');
    expect(q(fixture, 'code-editor-input')).toBeNull();
    expect(q(fixture, 'server-files-list')).not.toBeNull();
  });

  it('shows a 403 on the list as a notice naming the missing permission', async () => {
    api.list.mockRejectedValue(new ApiError('You may not read the files of this server', 'FORBIDDEN', 403, [], { missing: ['files.read'] }));
    const fixture = await render(['files.read']);

    expect(q(fixture, 'error-message')!.textContent).toContain('You lack files.read on this server');
  });
});

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = [join(ROOT, 'README.md'), ...(await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => join(ROOT, 'docs', name))];

/** Every TypeScript block of the README and the docs, by file and position. */
async function snippets(): Promise<{ name: string; code: string }[]> {
  const found: { name: string; code: string }[] = [];
  for (const file of DOCS) {
    const text = await readFile(file, 'utf8');
    let index = 0;
    for (const [, code] of text.matchAll(/```ts\n([\s\S]*?)```/g)) found.push({ name: `${file.slice(ROOT.length)} #${++index}`, code });
  }
  return found;
}

// The bug: the README's cache snippet (`req.cacheDisabled = true` on Node's request) did not compile under `strict`.
describe('the TypeScript in the README and the docs', () => {
  it('compiles under strict, with nest-gateway as the package exports it', async () => {
    const blocks = await snippets();
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    // Inside the project, so that the snippets find its node_modules.
    await mkdir(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    const dir = await mkdtemp(join(ROOT, 'node_modules', '.cache', 'doc-snippets-'));
    try {
      const files = await Promise.all(
        blocks.map(async ({ code }, index) => {
          const file = join(dir, `snippet-${index}.ts`);
          await writeFile(file, code);
          return file;
        }),
      );
      const program = ts.createProgram(files, {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2023,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        esModuleInterop: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        // The package's declarations, as `nest build` makes them (npm test builds first).
        paths: { 'nest-gateway': [join(ROOT, 'dist', 'index.d.ts')] },
      });
      const errors = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
        const where = diagnostic.file ? `${blocks[files.indexOf(diagnostic.file.fileName)]?.name ?? diagnostic.file.fileName}` : '';
        return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      });
      expect(errors).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

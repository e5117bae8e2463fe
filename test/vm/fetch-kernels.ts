import { VM_CACHE } from './image';
import { KERNEL_LINES, type KernelLine, debianArchive, ensureKernel, isKernelLine } from './kernels';

/**
 * `npm run vm:kernels [LINE...]`: fetch the VM's kernels into .cache/vm/kernels/ ahead of a test run (the
 * suites fetch them on first use too) and say which Debian package each one is.
 */
async function main(argv: string[]): Promise<number> {
  const bad = argv.filter((a) => !isKernelLine(a));
  if (bad.length > 0) {
    process.stderr.write(
      `vm:kernels: unknown kernel line ${bad.join(', ')} (known: ${KERNEL_LINES.join(', ')})\n`,
    );
    return 2;
  }
  const lines = argv.length > 0 ? (argv as KernelLine[]) : [...KERNEL_LINES];
  const archive = debianArchive();
  process.stdout.write(
    `Debian archive ${archive.mirror}, security ${archive.security}, keyring ${archive.keyring}\n`,
  );
  for (const line of lines) {
    const started = Date.now();
    const k = await ensureKernel(line, VM_CACHE);
    process.stdout.write(
      `${line} (${k.suite}): ${k.package} ${k.version}, uname -r ${k.release}, from ${k.url} ` +
        `(sha256 ${k.sha256.slice(0, 16)}...), ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vm:kernels: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

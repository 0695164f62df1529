import { nameProblem, pathProblem } from './file-names';

describe('file names', () => {
  it('accepts a name and refuses slashes, dot names and names over 255 bytes', () => {
    expect(nameProblem('report.pdf')).toBeNull();
    expect(nameProblem('a/b')).toBe('A name cannot contain /');
    expect(nameProblem('.')).toBe('Not a valid name');
    expect(nameProblem('é'.repeat(128))).toBe('At most 255 bytes');
  });

  it('accepts an absolute path and names the segment it refuses', () => {
    expect(pathProblem('/docs/2026/report.pdf')).toBeNull();
    expect(pathProblem('docs/report.pdf')).toBe('A path starts with /');
    expect(pathProblem('/')).toBe('Not the root folder');
    expect(pathProblem('/docs/../etc')).toBe('Not a valid name (in "..")');
    expect(pathProblem('/docs//x')).toBe('A name is required (in "//")');
  });
});

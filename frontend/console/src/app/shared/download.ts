/** Makes the browser save `blob` as a file named `name`. */
export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}

/** Saves `data` as an indented JSON file. */
export function saveJson(name: string, data: unknown): void {
  saveBlob(name, new Blob([JSON.stringify(data, null, 2) + '\n'], { type: 'application/json' }));
}

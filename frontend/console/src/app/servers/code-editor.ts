import { ChangeDetectionStrategy, Component, ElementRef, computed, input, model, output, viewChild } from '@angular/core';
import { Language, highlight } from './syntax-highlight';

/**
 * A plain textarea over a highlighted copy of its text: the textarea keeps native editing, undo,
 * selection and IME; the `<pre>` behind it shows the colours. Both use the same font, padding and
 * no wrapping, and the pre follows the textarea's scroll.
 */
@Component({
  selector: 'adm-code-editor',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <pre #overlay class="layer overlay" aria-hidden="true"><code [innerHTML]="html()"></code></pre>
    <textarea #area class="layer input" spellcheck="false" autocomplete="off" autocapitalize="off" wrap="off"
              [attr.aria-label]="label()" [readOnly]="readonly()" [value]="value()" data-testid="code-editor-input"
              (input)="edited(area.value)" (scroll)="follow(area)" (keydown)="key($event)"></textarea>
  `,
  styles: `
    :host { position: relative; display: block; height: 60vh; min-height: 240px; border: 1px solid var(--mat-sys-outline-variant);
      border-radius: 8px; overflow: hidden; background: var(--mat-sys-surface-container-lowest); }
    .layer { position: absolute; inset: 0; margin: 0; padding: 12px; box-sizing: border-box; border: 0; font: 13px/1.5 ui-monospace, 'SFMono-Regular',
      'JetBrains Mono', Menlo, Consolas, 'Liberation Mono', monospace; white-space: pre; tab-size: 4; letter-spacing: normal; word-spacing: normal; }
    .overlay { overflow: hidden; pointer-events: none; color: var(--mat-sys-on-surface); }
    .input { width: 100%; height: 100%; resize: none; overflow: auto; background: transparent; color: transparent;
      caret-color: var(--mat-sys-on-surface); outline: none; }
    .input::selection { background: color-mix(in srgb, var(--mat-sys-primary) 30%, transparent); color: transparent; }
    :host:focus-within { border-color: var(--mat-sys-primary); }
    code { font: inherit; }
    /* Room for the textarea's scrollbars: the pre must scroll as far as the textarea does. */
    .overlay code { display: block; padding: 0 24px 24px 0; }
    :host ::ng-deep .tok-comment { color: #6a737d; font-style: italic; }
    :host ::ng-deep .tok-string { color: #22863a; }
    :host ::ng-deep .tok-number, :host ::ng-deep .tok-literal { color: #005cc5; }
    :host ::ng-deep .tok-keyword, :host ::ng-deep .tok-tag { color: #d73a49; }
    :host ::ng-deep .tok-key, :host ::ng-deep .tok-attr, :host ::ng-deep .tok-variable { color: #6f42c1; }
    :host ::ng-deep .tok-section, :host ::ng-deep .tok-heading { color: #e36209; font-weight: 600; }
    :host ::ng-deep .tok-code { color: #032f62; }
    @media (prefers-color-scheme: dark) {
      :host ::ng-deep .tok-comment { color: #8b949e; }
      :host ::ng-deep .tok-string { color: #7ee787; }
      :host ::ng-deep .tok-number, :host ::ng-deep .tok-literal { color: #79c0ff; }
      :host ::ng-deep .tok-keyword, :host ::ng-deep .tok-tag { color: #ff7b72; }
      :host ::ng-deep .tok-key, :host ::ng-deep .tok-attr, :host ::ng-deep .tok-variable { color: #d2a8ff; }
      :host ::ng-deep .tok-section, :host ::ng-deep .tok-heading { color: #ffa657; }
      :host ::ng-deep .tok-code { color: #a5d6ff; }
    }
  `,
})
export class CodeEditor {
  /** The text; two-way (`[(value)]`). */
  readonly value = model.required<string>();
  readonly language = input<Language>('plain');
  readonly readonly = input(false);
  /** Accessible name of the text area. */
  readonly label = input('File contents');
  /** Ctrl+S or Cmd+S inside the editor. */
  readonly saveRequested = output<void>();

  private readonly overlay = viewChild.required<ElementRef<HTMLPreElement>>('overlay');
  // A trailing newline needs a character after it, or the pre ends one line short of the textarea.
  protected readonly html = computed(() => highlight(this.value(), this.language()) + '\n ');

  protected edited(text: string): void {
    this.value.set(text);
  }

  protected follow(area: HTMLTextAreaElement): void {
    const pre = this.overlay().nativeElement;
    pre.scrollTop = area.scrollTop;
    pre.scrollLeft = area.scrollLeft;
  }

  protected key(event: KeyboardEvent): void {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
      event.preventDefault();
      this.saveRequested.emit();
    }
  }
}

// What the WebDAV door tells the event machinery about the changes it makes. Where the kernel's
// inotify is watching, the kernel reports the same changes and write notifications are ignored;
// without it, these notifications are the only source of events.
export interface ChangeNotifier {
  created(fsPath: string, isDir: boolean): void;
  openedForWrite(fsPath: string): void;
  modified(fsPath: string): void;
  /** called once the file is closed and its size and checksum are recorded */
  closedWrite(fsPath: string): void;
  read(fsPath: string, phase: "open" | "access" | "close"): void;
  deleted(fsPath: string, isDir: boolean): void;
  moved(from: string, to: string, isDir: boolean): void;
}

export const NO_CHANGE_NOTIFIER: ChangeNotifier = {
  created() {},
  openedForWrite() {},
  modified() {},
  closedWrite() {},
  read() {},
  deleted() {},
  moved() {},
};

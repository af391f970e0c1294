import type { DestinationStream } from "pino";

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A pino destination that keeps the lines in memory, so tests can read them. */
export class LogCapture implements DestinationStream {
  readonly lines: LogLine[] = [];

  write(line: string): void {
    this.lines.push(JSON.parse(line) as LogLine);
  }

  find(message: string): LogLine[] {
    return this.lines.filter((line) => line.msg === message);
  }
}

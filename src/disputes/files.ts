// Receipts and statements' files: what Kasa takes (JPEG, PNG, PDF, told apart by their first
// bytes, never by the name or the type the sender claims) and how big. A file is kept as bytes in
// the database and only ever served back as an attachment, so a browser never renders it inline.
import { createHash } from 'node:crypto';
import { errors } from '../errors.ts';

/** One file per upload, at most this big. */
export const FILE_SIZE_MAX_BYTES = 5 * 1024 * 1024;
/** A dispute holds at most this many files, whoever sent them. */
export const DISPUTE_FILES_MAX = 20;
/** A customer's page may upload this many receipts per invoice per hour. */
export const RECEIPTS_PER_INVOICE_PER_HOUR_MAX = 5;
export const RECEIPT_WINDOW_MS = 60 * 60_000;

export const FILE_CONTENT_TYPES = ['image/jpeg', 'image/png', 'application/pdf'] as const;
export type FileContentType = (typeof FILE_CONTENT_TYPES)[number];

export interface UploadedFile {
  contentType: FileContentType;
  data: Buffer;
  sha256: string;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);
const PDF_SIGNATURE = Buffer.from('%PDF-', 'latin1');
/**
 * PDF names that run script (/JS, /JavaScript) or act on opening or on a click (/OpenAction,
 * /AA, /Launch, /EmbeddedFile, /RichMedia, /XFA). A receipt needs none of them. Names may hide
 * characters as #xx escapes (/J#61vaScript), so they are decoded before matching.
 */
const PDF_ACTIVE_NAMES = /\/(JS|JavaScript|OpenAction|AA|Launch|EmbeddedFile|RichMedia|XFA)(?![A-Za-z0-9])/;

/** The file's type by its magic bytes, or why it is refused. */
export function sniff(data: Buffer): FileContentType {
  if (data.length === 0) throw errors.fileMissing();
  if (data.length > FILE_SIZE_MAX_BYTES) throw errors.fileTooLarge(FILE_SIZE_MAX_BYTES);
  if (data.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return 'image/png';
  if (data.subarray(0, JPEG_SIGNATURE.length).equals(JPEG_SIGNATURE)) return 'image/jpeg';
  if (data.subarray(0, PDF_SIGNATURE.length).equals(PDF_SIGNATURE)) {
    if (pdfIsActive(data)) throw errors.fileTypeRefused('the PDF carries JavaScript or automatic actions');
    return 'application/pdf';
  }
  throw errors.fileTypeRefused('the file is none of these, whatever its name says');
}

/** Whether a PDF names anything active, read as latin1 with its #xx name escapes decoded. */
export function pdfIsActive(data: Buffer): boolean {
  const text = data.toString('latin1').replace(/#([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return PDF_ACTIVE_NAMES.test(text);
}

/** A checked file, ready to store. */
export function checkedFile(data: Buffer): UploadedFile {
  const contentType = sniff(data);
  return { contentType, data, sha256: createHash('sha256').update(data).digest('hex') };
}

/** The name a served file is saved under: the dispute's words only, never the sender's. */
export function attachmentName(fileId: string, contentType: FileContentType): string {
  const extension = contentType === 'image/png' ? 'png' : contentType === 'image/jpeg' ? 'jpg' : 'pdf';
  return `dispute-file-${fileId}.${extension}`;
}

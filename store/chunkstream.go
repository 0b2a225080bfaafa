package store

import (
	"context"
	"io"
)

// Optional interfaces for moving an attachment's chunks in bulk. A backend
// that keeps an attachment's chunk ciphertext contiguous (store/sqlite keeps
// one file per attachment) implements them so that the library can read and
// write whole runs of chunks per call. Callers test for them with a type
// assertion and fall back to Store.AttachmentChunk and
// AttachmentWriter.WriteChunk when they are missing; a backend without them
// loses speed, nothing else.

// ChunkStreamOpener is implemented by a Store that can present a committed
// attachment's chunks as one byte stream.
type ChunkStreamOpener interface {
	// OpenChunkStream opens the stored chunks of a committed attachment as
	// one stream: chunk 0, chunk 1, … concatenated, without the header.
	// ErrNotFound if the attachment does not exist or is not committed; an
	// error wrapping ErrCorrupt if the backend finds its stored data missing
	// or not of the size its metadata records. The caller must Close the
	// stream. What a stream reads after the attachment was deleted or
	// replaced is up to the backend and documented there; it is never other
	// bytes than the attachment's own, or an error.
	OpenChunkStream(ctx context.Context, attachmentID string) (ChunkStream, error)
}

// ChunkStream is an open attachment's chunk ciphertext (see
// ChunkStreamOpener). ReadAt may be called from several goroutines at once.
// A read that finds less data than Size promised fails with an error
// wrapping ErrCorrupt (io.EOF only for a read that reaches past Size).
type ChunkStream interface {
	io.ReaderAt
	io.Closer
	// Size is the length of the stream, as recorded when the attachment
	// was committed and checked when it was opened.
	Size() int64
}

// ChunkBatchWriter is implemented by an AttachmentWriter that can take
// several consecutive chunks in one call.
type ChunkBatchWriter interface {
	// WriteChunks stores the chunks first, first+1, … held back to back
	// in data: every one chunkLen bytes long except possibly the last,
	// which is shorter and then must be the attachment's last chunk. The
	// rules of WriteChunk apply to every chunk of the batch (in order, no
	// gaps, every chunk but the attachment's last as long as chunk 0). On
	// failure none of the batch is accepted: the writer is as before the
	// call. The writer does not keep data after it returns.
	WriteChunks(ctx context.Context, first int64, data []byte, chunkLen int) error
}

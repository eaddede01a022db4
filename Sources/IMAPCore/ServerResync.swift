/// Server bytes after a gap that could not be framed, read the way a person reads them: lines
/// are skipped until one starts a response, then one `gap` event says what was lost and what
/// was skipped (a lost literal's body would otherwise give an `unparsed` event per line).
struct ServerResync {
    /// When the first loss happened.
    var time: Timestamp
    /// Bytes the capture lost (every gap until the stream resynchronised).
    var missing: Int
    var skippedBytes = 0
    var skippedLines = 0
    /// The start of the first skipped line (server text: never a client secret).
    var firstSkipped: [UInt8]?

    mutating func skip(_ text: [UInt8], bytes: Int) {
        guard bytes > 0 else { return }
        if firstSkipped == nil { firstSkipped = Array(text.prefix(200)) }
        skippedBytes += bytes
        skippedLines += 1
    }
}

public struct DecoderOptions: Sendable {
    public var limits = FramerLimits()
    /// Client bytes held while waiting for the server's word (a `+` for a literal, the result of
    /// STARTTLS or COMPRESS) before deciding without it.
    public var holdLimit = 64 * 1024
    public enum AfterStartTLS: Sendable {
        /// A capture: after STARTTLS's OK the bytes are TLS records, counted but not decoded.
        case encrypted
        /// A proxy: it terminates TLS and goes on feeding plaintext after `tlsEstablished()`.
        case plaintext
        /// A capture the proxy wrote (`--pcap`): it terminated TLS, so plaintext follows at once.
        case decrypted
        /// A capture read with a key log: the bytes after STARTTLS's OK go back to the source
        /// (`takeTLSHandOff()`), which decrypts them and feeds the plaintext, or reports them opaque.
        case handOff
    }
    public var afterStartTLS = AfterStartTLS.encrypted
    /// The connection is TLS from its first byte (implicit TLS on 993).
    public var encryptedTransport = false
    /// How much of each literal body the events carry.
    public var bodies = BodyMode.preview
    /// Inflate after COMPRESS=DEFLATE. Off for transcripts written already inflated.
    public var inflateAfterCompress = true
    /// The source saw the client's stream from its first byte (a proxy, a transcript, a capture
    /// with the SYN). When false, client lines are hidden until a server completion confirms
    /// where a command starts: the capture may begin inside a literal or a SASL exchange.
    public var clientStreamFromStart = true

    public init() {}
}

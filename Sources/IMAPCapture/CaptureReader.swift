import IMAPCore

/// Reads a whole capture file (or a live interface) through libpcap into a `CaptureDecoder`.
public enum CaptureReader {
    public struct Result: Sendable {
        public var packets: Int
        public var sessions: Int
        public var warnings: [String]
        /// Damage that stopped reading: everything before it was decoded.
        public var error: String?
    }

    public static func read(
        source: PcapSource, filter: String?, options: CaptureDecoder.Options,
        progress: ((Int) -> Void)? = nil, shouldStop: (() -> Bool)? = nil,
        emit: @escaping (String, [DecodedEvent]) -> Void
    ) throws -> Result {
        if let expression = filter { try source.setFilter(expression) }
        guard FrameDecoder.supportedLinkTypes[source.linkType] != nil else {
            throw CaptureError(
                "\(source.name): link type \(source.linkTypeName) is not supported (Ethernet, Linux cooked v1/v2, BSD loopback and raw IP are)"
            )
        }
        var options = options
        if source.writtenByProxy {
            // The proxy decrypted these sessions: nothing in the file is TLS.
            options.tlsPorts = []
            options.decoder.afterStartTLS = .decrypted
            // Connections it marked were implicit TLS on the client leg: TLS, decrypted.
            options.trustsDecryptedTLSMarks = true
            // It wrote what followed COMPRESS inflated (with secrets filled), or, if older, as relayed.
            options.decoder.inflateAfterCompress = !source.inflatedAfterCompress
        }
        let decoder = CaptureDecoder(options: options, emit: emit)
        var damage: String?
        loop: while true {
            if shouldStop?() == true { break }
            do {
                switch try source.next() {
                case .packet(let packet):
                    decoder.process(packet, linkType: source.linkType)
                    if packet.number % 4096 == 0 { progress?(packet.number) }
                case .timeout: continue
                case .end: break loop
                }
            } catch {
                damage = "\(error)"
                break
            }
        }
        decoder.finish()
        return Result(
            packets: source.packetsRead, sessions: decoder.sessionsStarted, warnings: decoder.warnings, error: damage)
    }
}

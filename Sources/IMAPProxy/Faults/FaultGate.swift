import IMAPCore

/// What goes to the client while faults apply, in order, and when it may go: nothing before a
/// `delay`'s end, no faster than a `throttle`'s rate. Bytes wait here; the relay stops reading
/// the server while too many wait (`queuedBytes`).
struct FaultGate {
    enum Piece: Equatable {
        /// The server's bytes.
        case relayed([UInt8])
        /// imapscope's own (a response, a BYE, an injected line).
        case proxy([UInt8])
        /// A fault, reported when the bytes it changed go (not before the ones ahead of it).
        case report(FaultEvent)

        var bytes: [UInt8] {
            switch self {
            case .relayed(let bytes), .proxy(let bytes): return bytes
            case .report: return []
            }
        }
    }

    struct Throttle: Equatable {
        var bytesPerSecond: Int
        var start: UInt64
        var sent = 0

        /// What may go at once: the rate's first tenth of a second, at most 16 KB.
        var burst: Int { max(1, min(bytesPerSecond / 10, 16 << 10)) }

        func allowance(at now: UInt64) -> Int {
            let elapsed = now > start ? Double(now - start) / 1e9 : 0
            let total = Double(burst) + Double(bytesPerSecond) * elapsed
            return max(0, Int(min(total, Double(Int.max / 2))) - sent)
        }

        /// When `count` more bytes will be allowed.
        func time(for count: Int) -> UInt64 {
            let needed = Double(sent + count - burst)
            return start + UInt64(max(0, needed / Double(bytesPerSecond) * 1e9).rounded(.up))
        }
    }

    private var pieces: [Piece] = []
    private(set) var queuedBytes = 0
    /// Nothing goes before this time (monotonic nanoseconds).
    var holdUntil: UInt64 = 0
    var throttle: Throttle?

    mutating func append(_ piece: Piece) {
        if case .report = piece {} else if piece.bytes.isEmpty { return }
        pieces.append(piece)
        queuedBytes += piece.bytes.count
    }

    /// What may go now, and when the rest may (nil when nothing waits).
    mutating func release(now: UInt64) -> (ready: [Piece], wake: UInt64?) {
        guard !pieces.isEmpty else { return ([], nil) }
        if now < holdUntil { return ([], holdUntil) }
        guard var limiter = throttle else { return (drain(), nil) }
        var ready: [Piece] = []
        var allowed = limiter.allowance(at: now)
        while let first = pieces.first, allowed > 0 || first.bytes.isEmpty {
            let bytes = first.bytes
            if bytes.count <= allowed {
                ready.append(first)
                pieces.removeFirst()
                allowed -= bytes.count
                limiter.sent += bytes.count
                queuedBytes -= bytes.count
            } else {
                let part = Array(bytes[..<allowed])
                let rest = Array(bytes[allowed...])
                switch first {
                case .relayed:
                    ready.append(.relayed(part))
                    pieces[0] = .relayed(rest)
                case .proxy:
                    ready.append(.proxy(part))
                    pieces[0] = .proxy(rest)
                case .report:
                    break  // no bytes: never split
                }
                limiter.sent += allowed
                queuedBytes -= allowed
                allowed = 0
            }
        }
        throttle = limiter
        guard let next = pieces.first else { return (ready, nil) }
        return (ready, limiter.time(for: min(next.bytes.count, limiter.burst)))
    }

    /// Everything waiting, whatever the gates say (before a close, or when the server leaves).
    mutating func drain() -> [Piece] {
        let all = pieces
        pieces = []
        queuedBytes = 0
        return all
    }
}

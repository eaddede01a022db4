/// One direction of a TCP connection put back in sequence order (RFC 9293 §3.4 sequence
/// space, modulo 2^32). Out-of-order segments wait in a bounded buffer; retransmitted bytes
/// are dropped, the first copy wins, and a retransmission whose bytes differ is reported.
struct StreamReassembler {
    enum Output: Equatable {
        case data([UInt8])
        /// Bytes the capture lost.
        case gap(Int)
        /// A retransmission carried different bytes than the first copy (count of differing bytes).
        case conflict(Int)
    }

    private struct Pending {
        var seq: UInt32
        var bytes: [UInt8]
        var hole: Int
    }

    let maxPending: Int
    /// The next sequence number expected, once the first segment set it (`started`).
    private var expected: UInt32 = 0
    private var started = false
    /// The next sequence number expected; nil until the first segment.
    var next: UInt32? { started ? expected : nil }
    private var pending: [Pending] = []
    private var pendingBytes = 0
    private var finSeq: UInt32?
    /// The peer acknowledged up to here: bytes below it were sent even if we never saw them.
    private var acked: UInt32?
    /// The last delivered bytes, to compare retransmissions with.
    private var recent: [UInt8] = []
    private let recentLimit = 8192

    init(maxPending: Int = 1 << 20) { self.maxPending = maxPending }

    /// Whether a FIN was seen and every byte before it delivered.
    var finished: Bool { started && finSeq == expected }
    var hasPending: Bool { !pending.isEmpty }
    /// Out-of-order bytes held.
    var heldBytes: Int { pendingBytes }

    /// Gives up waiting for the holes: what is held comes out now, holes as gaps.
    mutating func releaseHeld() -> [Output] {
        var out: [Output] = []
        flush(&out)
        return out
    }

    static func distance(_ sequence: UInt32, from origin: UInt32) -> Int { Int(Int32(bitPattern: sequence &- origin)) }

    mutating func accept(seq: UInt32, syn: Bool, fin: Bool, payload: ArraySlice<UInt8>, missing: Int) -> [Output] {
        var out: [Output] = []
        var start = seq
        if syn {
            start = seq &+ 1
            if !started || !hasPending {
                expected = start
                started = true
            }
        }
        if !started {
            expected = start
            started = true
        }  // a capture that starts mid-stream
        if fin { finSeq = start &+ UInt32(truncatingIfNeeded: payload.count + missing) }
        guard !payload.isEmpty || missing > 0 else { return out }
        let ahead = Self.distance(start, from: expected)
        if ahead > 0 {
            if ahead > 1 << 30 {  // no sane window: the stream jumped; resynchronise there
                out.append(.gap(0))
                expected = start
                deliver(Array(payload), hole: missing, &out)
                drain(&out)
                return out
            }
            pending.append(Pending(seq: start, bytes: Array(payload), hole: missing))
            pendingBytes += payload.count
            if pendingBytes > maxPending { flush(&out) }
            return out
        }
        place(Pending(seq: start, bytes: Array(payload), hole: missing), &out)
        drain(&out)
        return out
    }

    /// The peer's ACK: holes below it will never be filled by this capture.
    mutating func acknowledge(_ ack: UInt32) -> [Output] {
        guard started else { return [] }
        let origin = expected
        if Self.distance(ack, from: acked ?? origin) > 0 { acked = ack }
        var out: [Output] = []
        guard Self.distance(ack, from: origin) > 0, hasPending else { return out }
        // Release what the ACK proves was sent, in order, with the holes as gaps.
        while let index = earliest(), Self.distance(pending[index].seq, from: ack) < 0 {
            release(index, &out)
        }
        drain(&out)
        return out
    }

    /// End of capture: everything held comes out, holes as gaps (and a final hole the ACKs prove).
    mutating func flushAll() -> [Output] {
        var out: [Output] = []
        flush(&out)
        // The peer acknowledged bytes this capture never held (an ACK of a FIN counts the FIN too).
        if started, let lastAck = acked {
            let end = finSeq.map { min($0, lastAck, by: expected) } ?? lastAck
            let skipped = Self.distance(end, from: expected)
            if skipped > 0 && skipped < 1 << 30 {
                out.append(.gap(skipped))
                expected = end
            }
        }
        return out
    }

    private mutating func flush(_ out: inout [Output]) {
        while let index = earliest() { release(index, &out) }
    }

    /// Takes a held segment out, a hole before it as a gap.
    private mutating func release(_ index: Int, _ out: inout [Output]) {
        let segment = pending.remove(at: index)
        pendingBytes -= segment.bytes.count
        let skipped = Self.distance(segment.seq, from: expected)
        if skipped > 0 {
            out.append(.gap(skipped))
            expected = segment.seq
        }
        place(segment, &out)
    }

    private func earliest() -> Int? {
        guard started, !pending.isEmpty else { return nil }
        let origin = expected
        var best = 0
        for i in 1..<pending.count
        where Self.distance(pending[i].seq, from: origin) < Self.distance(pending[best].seq, from: origin) { best = i }
        return best
    }

    /// Delivers a segment that starts at or before `next`, trimming what was already delivered.
    private mutating func place(_ segment: Pending, _ out: inout [Output]) {
        let overlap = -Self.distance(segment.seq, from: expected)
        var bytes = segment.bytes
        var hole = segment.hole
        if overlap > 0 {
            let compared = min(overlap, bytes.count)
            // Compare the re-sent bytes we still remember with what we delivered.
            let back = overlap
            if back <= recent.count {
                let mine = recent[(recent.count - back)..<(recent.count - back + compared)]
                let differing = zip(mine, bytes.prefix(compared)).filter { $0 != $1 }.count
                if differing > 0 { out.append(.conflict(differing)) }
            }
            if overlap >= bytes.count + hole { return }
            if overlap >= bytes.count {
                hole -= overlap - bytes.count
                bytes = []
            } else {
                bytes.removeFirst(overlap)
            }
        }
        deliver(bytes, hole: hole, &out)
    }

    private mutating func deliver(_ bytes: [UInt8], hole: Int, _ out: inout [Output]) {
        if !bytes.isEmpty {
            out.append(.data(bytes))
            recent += bytes
            if recent.count > recentLimit * 2 { recent.removeFirst(recent.count - recentLimit) }
        }
        if hole > 0 {
            out.append(.gap(hole))
            recent.removeAll()
        }
        expected = expected &+ UInt32(truncatingIfNeeded: bytes.count + hole)
    }

    private mutating func drain(_ out: inout [Output]) {
        while let index = earliest(), Self.distance(pending[index].seq, from: expected) <= 0 {
            let segment = pending.remove(at: index)
            pendingBytes -= segment.bytes.count
            place(segment, &out)
        }
    }
}

private func min(_ lhs: UInt32, _ rhs: UInt32, by origin: UInt32) -> UInt32 {
    StreamReassembler.distance(lhs, from: origin) <= StreamReassembler.distance(rhs, from: origin) ? lhs : rhs
}

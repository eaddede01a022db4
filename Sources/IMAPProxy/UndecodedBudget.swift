import NIOConcurrencyHelpers

/// The bytes waiting to be decoded across every session of one proxy, bounded as a whole. Each
/// session's queue is capped on its own (`SessionTap.lagLimit`), but 500 busy sessions would
/// hold 500 times that. Once the total reaches `limit`, no session starts another read until
/// decoding brings the total below `resumeBelow`; the sessions that were refused are then called
/// back. A read already under way still completes, so the total may pass `limit` by at most one
/// read per session (NIO reads at most `maxMessagesPerRead` buffers in a row).
final class UndecodedBudget: Sendable {
    static let defaultLimit = 64 << 20

    let limit: Int
    let resumeBelow: Int

    private struct State {
        var held = 0
        var peak = 0
        /// Set on reaching `limit`, cleared below `resumeBelow`: reads are refused meanwhile.
        var full = false
        /// Sessions refused while full, by session, with what resumes their reads.
        var waiting: [ObjectIdentifier: @Sendable () -> Void] = [:]
    }
    private let state = NIOLockedValueBox(State())

    /// `resumeBelow` defaults to half the limit (hysteresis: reading does not flap at the edge).
    init(limit: Int = UndecodedBudget.defaultLimit, resumeBelow: Int? = nil) {
        self.limit = max(1, limit)
        self.resumeBelow = min(self.limit, max(1, resumeBelow ?? self.limit / 2))
    }

    /// Bytes held for decoding now, and the most ever held at once.
    var held: Int { state.withLockedValue { $0.held } }
    var peak: Int { state.withLockedValue { $0.peak } }
    /// Whether a read may start now (without asking to be called back).
    var hasRoom: Bool { state.withLockedValue { !$0.full } }
    /// How many sessions wait for room.
    var waitingCount: Int { state.withLockedValue { $0.waiting.count } }

    /// `n` more bytes wait for decoding.
    func add(_ byteCount: Int) {
        state.withLockedValue { locked in
            locked.held += byteCount
            locked.peak = max(locked.peak, locked.held)
            if locked.held >= limit { locked.full = true }
        }
    }

    /// `byteCount` bytes were decoded; once the total is below `resumeBelow`, the refused sessions are
    /// called back (outside the lock, on the caller's thread).
    func remove(_ byteCount: Int) {
        let wake = state.withLockedValue { locked -> [@Sendable () -> Void] in
            locked.held -= byteCount
            guard locked.full, locked.held < resumeBelow else { return [] }
            locked.full = false
            defer { locked.waiting.removeAll() }
            return Array(locked.waiting.values)
        }
        for resume in wake { resume() }
    }

    /// Whether `session` may start a read now. If not, `resume` is called once there is room
    /// again (checked and registered under one lock, so a drain cannot slip between them).
    func admit(_ session: ObjectIdentifier, resume: @escaping @Sendable () -> Void) -> Bool {
        state.withLockedValue { locked in
            guard locked.full else { return true }
            locked.waiting[session] = resume
            return false
        }
    }

    /// A closed session waits for nothing any more.
    func forget(_ session: ObjectIdentifier) {
        _ = state.withLockedValue { $0.waiting.removeValue(forKey: session) }
    }
}

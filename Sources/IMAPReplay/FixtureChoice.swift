/// What a replay session is played by: one fixture's `ReplayEngine`, or a `FixtureChoice`
/// among several. `ReplayHandler` drives either.
protocol ReplayPlayer: AnyObject {
    func start() -> [ReplayEngine.Action]
    func feed(_ bytes: [UInt8]) -> [ReplayEngine.Action]
    func resume() -> [ReplayEngine.Action]
    func takeHeldBytes() -> [UInt8]
    func clientIdle() -> [ReplayEngine.Action]
    func finish() -> [ReplayEngine.Mismatch]
    var mismatches: [ReplayEngine.Mismatch] { get }
    var succeeded: Bool { get }
    var skippedByLogout: Int { get }
}

extension ReplayEngine: ReplayPlayer {}

/// One session of a replay of several fixtures (a client that opens a connection per folder):
/// the session is played against every candidate fixture at once, each by its own engine fed
/// the same bytes. An engine that finds a mismatch drops out; while the rest agree on what to
/// send, the client gets it; where they first differ, the first of them still free wins and the
/// others drop out. So each session follows the fixture its first commands follow. Candidates
/// are the fixtures no other session has taken yet (all of them once every one was taken).
/// Sans-I/O; the shared record of taken fixtures is the caller's (`isTaken`, `take`).
final class FixtureChoice: ReplayPlayer {
    private var candidates: [(fixture: Int, engine: ReplayEngine)]
    private let isTaken: (Int) -> Bool
    private let take: (Int) -> Void
    private var decided = false

    init(
        scripts: [ReplayScript], order: ReplayEngine.Order, isTaken: @escaping (Int) -> Bool,
        take: @escaping (Int) -> Void
    ) {
        let free = scripts.indices.filter { !isTaken($0) }
        candidates = (free.isEmpty ? Array(scripts.indices) : free).map {
            ($0, ReplayEngine(script: scripts[$0], order: order))
        }
        self.isTaken = isTaken
        self.take = take
        if candidates.count == 1 { settle(on: 0) }
    }

    /// The fixture this session follows (the first candidate until one is settled on).
    var fixture: Int { candidates.first?.fixture ?? 0 }

    private var lead: ReplayEngine? { candidates.first?.engine }

    func start() -> [ReplayEngine.Action] { play { $0.start() } }
    func feed(_ bytes: [UInt8]) -> [ReplayEngine.Action] { play { $0.feed(bytes) } }
    func resume() -> [ReplayEngine.Action] { play { $0.resume() } }
    func clientIdle() -> [ReplayEngine.Action] { play { $0.clientIdle() } }

    /// Every candidate framed the same bytes: the held ones are the same, taken from each.
    func takeHeldBytes() -> [UInt8] {
        var held: [UInt8] = []
        for (index, candidate) in candidates.enumerated() {
            let bytes = candidate.engine.takeHeldBytes()
            if index == 0 { held = bytes }
        }
        return held
    }

    func finish() -> [ReplayEngine.Mismatch] {
        let result = lead?.finish() ?? []
        if !decided { settle(on: 0) }
        return result
    }

    var mismatches: [ReplayEngine.Mismatch] { lead?.mismatches ?? [] }
    var succeeded: Bool { lead?.succeeded ?? false }
    var skippedByLogout: Int { lead?.skippedByLogout ?? 0 }

    /// Runs `step` on every candidate; keeps those without a new mismatch (or, when all have
    /// one, the first, whose mismatch the client hears) and, where what they would send differs,
    /// the first free one.
    private func play(_ step: (ReplayEngine) -> [ReplayEngine.Action]) -> [ReplayEngine.Action] {
        guard candidates.count > 1 else { return lead.map(step) ?? [] }
        let before = candidates.map { $0.engine.mismatches.count }
        let outputs = candidates.map { step($0.engine) }
        var keep = candidates.indices.filter { candidates[$0].engine.mismatches.count == before[$0] }
        if keep.isEmpty { keep = [0] }
        if keep.contains(where: { outputs[$0] != outputs[keep[0]] }) {
            keep = [keep.first { !isTaken(candidates[$0].fixture) } ?? keep[0]]
        }
        let chosen = outputs[keep[0]]
        candidates = keep.map { candidates[$0] }
        if candidates.count == 1 { settle(on: 0) }
        return chosen
    }

    private func settle(on index: Int) {
        guard !decided, candidates.indices.contains(index) else { return }
        decided = true
        candidates = [candidates[index]]
        take(candidates[0].fixture)
    }
}

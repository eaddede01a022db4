import Foundation
import IMAPCapture

/// `--keylog FILE`: an NSS key log read once (`read`), or followed as the client appends to it
/// (`sniff`): a client random it does not know yet makes it read the file again, waiting up to
/// `patience` for the client to write the line (it does so while the handshake crosses the wire).
final class KeyLogInput: @unchecked Sendable {
    let path: String
    private let follow: Bool
    private let patience: TimeInterval
    private let lock = NSLock()
    private var log: KeyLog
    private var size: Int

    init(path: String, follow: Bool, patience: TimeInterval = 0.5) throws {
        self.path = path
        self.follow = follow
        self.patience = patience
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError(description: "\(path): cannot read the key log (\(Self.reason(error)))")
        }
        size = data.count
        do { log = try Self.parse(data, follow: follow) } catch { throw CLIError(description: "\(path): \(error)") }
    }

    /// A followed file may end in a line still being written: only whole lines count.
    private static func parse(_ data: Data, follow: Bool) throws -> KeyLog {
        var bytes = [UInt8](data)
        if follow, let lastNewline = bytes.lastIndex(of: 0x0A) {
            bytes.removeSubrange((lastNewline + 1)...)
        } else if follow {
            bytes = []
        }
        return try KeyLog(parsing: bytes)
    }

    private static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }

    func secrets(forClientRandom random: [UInt8]) -> TLSSessionSecrets? {
        lock.lock()
        defer { lock.unlock() }
        if let secrets = log.secrets(forClientRandom: random) { return secrets }
        guard follow else { return nil }
        let deadline = Date().addingTimeInterval(patience)
        while true {
            reload()
            if let secrets = log.secrets(forClientRandom: random) { return secrets }
            if Date() >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private func reload() {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)), data.count != size else { return }
        // A line that became unreadable keeps the secrets read before; sniff goes on.
        guard let parsed = try? Self.parse(data, follow: true) else { return }
        size = data.count
        log = parsed
    }
}

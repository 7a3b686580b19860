import { describe, expect, it } from "vitest";
import { parsePortAddress } from "../../src/ingest/port-source.js";
import { isDaemonError } from "../../src/shared/errors.js";

describe("parsePortAddress", () => {
  it("reads serial paths, tcp:// and tcp-listen://", () => {
    expect(parsePortAddress("/dev/serial/by-id/usb-FTDI-if00-port0")).toEqual({
      kind: "serial",
      path: "/dev/serial/by-id/usb-FTDI-if00-port0",
    });
    expect(parsePortAddress("COM3")).toEqual({ kind: "serial", path: "COM3" });
    expect(parsePortAddress("tcp://10.0.0.5:4001")).toEqual({ kind: "tcp", host: "10.0.0.5", port: 4001 });
    expect(parsePortAddress("TCP-LISTEN://0.0.0.0:0")).toEqual({ kind: "tcp-listen", host: "0.0.0.0", port: 0 });
    expect(parsePortAddress("tcp://[::1]:9100/")).toEqual({ kind: "tcp", host: "::1", port: 9100 });
    expect(parsePortAddress("tcp://pos.local:9100")).toMatchObject({ host: "pos.local" });
  });

  it.each(["", "udp://1.2.3.4:5", "tcp://host", "tcp://host:70000", "tcp://host:0", "tcp-listen://:80"])(
    "refuses %j as a config error",
    (port) => {
      let caught: unknown;
      try {
        parsePortAddress(port);
      } catch (error) {
        caught = error;
      }
      expect(isDaemonError(caught) && caught.code).toBe("CONFIG_INVALID");
    },
  );
});

"""A TCP proxy for fault campaigns: `python -m bench.tcp_proxy LISTEN_PORT TARGET_HOST:PORT`.

A system pointed at it (AMQP_URI on LISTEN_PORT) loses its broker when the proxy process is
killed: every connection through it drops and the port refuses new ones, while the shared
RabbitMQ server, which other systems use, keeps running. Started again on the same port,
the broker is back."""

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen_port: int, target_host: str, target_port: int) -> None:
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, server_writer), _pipe(server_reader, client_writer)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    print(f"proxy 127.0.0.1:{listen_port} -> {target_host}:{target_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port = sys.argv[2].rsplit(":", 1)
    asyncio.run(main(int(sys.argv[1]), host, int(port)))

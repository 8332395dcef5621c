"""The original Python/FastAPI plan (shared/seed/websocket-implementation-plan.md), as a benchmark peer.

The three parts of the plan are kept as written (the UW client, the connection manager with a set
per channel and `await connection.send_json(message)` per subscriber, and the router with the
/api/stream/ws/flow endpoint), in one file so uvicorn can load it. What had to change for it to
run here, and nothing else:
  * the plan's router file uses `asyncio` and `datetime` without importing them: imported;
  * the UW URL is hard-coded to wss://api.unusualwhales.com; here it comes from UW_WS_URL
    (the benchmark's UW-compatible server on 127.0.0.1), the token from UW_API_TOKEN as planned;
  * the endpoints that the plan leaves as `pass` (market-movers, dark-pool, congress) and the
    /channels listing are left out: the benchmark does not use them.

Run: UW_API_TOKEN=x UW_WS_URL=ws://127.0.0.1:PORT/socket \
     python3 -m uvicorn fastapi_plan:app --host 127.0.0.1 --port P --workers 1
(Debian packages python3-fastapi, python3-uvicorn, python3-websockets; no pip.)
"""
import asyncio
import json
import logging
import os
from datetime import datetime
from typing import Any, Callable, Dict, Set

import websockets
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)

# ============================================================================
# Backend - Part 1: WebSocket Client (/backend/integrations/uw_websocket_client.py)
# ============================================================================

# Configuration
TIMEOUT_LENGTH = 30
MAX_RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY = 5
RECONNECT_DELAY_MAX = 60

UW_WS_URL = os.getenv("UW_WS_URL", "wss://api.unusualwhales.com/socket")


class UWWebSocketClient:
    """
    WebSocket client pentru Unusual Whales streaming.
    Based on official UW examples.
    """

    def __init__(self, api_token: str):
        self.api_token = api_token
        self.uri = f"{UW_WS_URL}?token={api_token}"
        self.ws = None
        self.running = False
        self.reconnect_attempt = 0
        self.message_handlers = {}  # channel -> callback

    async def connect(self):
        """Establish WebSocket connection"""
        try:
            self.ws = await websockets.connect(self.uri)
            self.running = True
            logger.info("WebSocket connected to Unusual Whales")
            return True
        except Exception as e:
            logger.error(f"Failed to connect: {e}")
            return False

    async def subscribe(self, channel: str, callback: Callable):
        """
        Subscribe to a channel and register callback
        """
        if not self.ws:
            raise RuntimeError("Not connected")

        # Register callback
        self.message_handlers[channel] = callback

        # Send subscription message
        subscribe_msg = {
            "channel": channel,
            "msg_type": "join"
        }
        await self.ws.send(json.dumps(subscribe_msg))
        logger.info(f"Subscribed to channel: {channel}")

    async def unsubscribe(self, channel: str):
        """Unsubscribe from a channel"""
        if not self.ws:
            return

        unsubscribe_msg = {
            "channel": channel,
            "msg_type": "leave"
        }
        await self.ws.send(json.dumps(unsubscribe_msg))

        if channel in self.message_handlers:
            del self.message_handlers[channel]

        logger.info(f"Unsubscribed from channel: {channel}")

    async def listen(self):
        """
        Main message loop - receive and dispatch messages
        """
        try:
            while self.running:
                try:
                    # Wait for message with timeout
                    message = await asyncio.wait_for(
                        self.ws.recv(),
                        timeout=TIMEOUT_LENGTH
                    )

                    # Parse message: [channel, payload]
                    data = json.loads(message)
                    if isinstance(data, list) and len(data) == 2:
                        channel, payload = data

                        # Dispatch to registered handler
                        if channel in self.message_handlers:
                            callback = self.message_handlers[channel]
                            await callback(channel, payload)
                        else:
                            logger.warning(f"No handler for channel: {channel}")

                except asyncio.TimeoutError:
                    # No message in 30s, check connection health
                    logger.debug("No message received, checking connection...")
                    try:
                        pong = await self.ws.ping()
                        await asyncio.wait_for(pong, timeout=10)
                        logger.debug("Connection is alive (pong received)")
                    except:  # noqa: E722 (as in the plan)
                        logger.warning("Connection appears dead, reconnecting...")
                        raise websockets.exceptions.ConnectionClosed(
                            1006, "Connection timed out"
                        )

        except websockets.exceptions.ConnectionClosed as e:
            logger.warning(f"Connection closed: {e}")
            if self.running:
                await self.reconnect()

        except Exception as e:
            logger.error(f"Error in listen loop: {e}")
            if self.running:
                await self.reconnect()

    async def reconnect(self):
        """Reconnect with exponential backoff"""
        self.reconnect_attempt += 1

        if self.reconnect_attempt > MAX_RECONNECT_ATTEMPTS:
            logger.error("Max reconnection attempts reached, giving up")
            self.running = False
            return

        # Calculate backoff delay
        delay = min(
            RECONNECT_DELAY * (2 ** (self.reconnect_attempt - 1)),
            RECONNECT_DELAY_MAX
        )

        logger.info(f"Reconnecting in {delay}s (attempt {self.reconnect_attempt}/{MAX_RECONNECT_ATTEMPTS})")
        await asyncio.sleep(delay)

        # Attempt reconnection
        success = await self.connect()
        if success:
            # Resubscribe to all channels
            for channel in list(self.message_handlers.keys()):
                subscribe_msg = {
                    "channel": channel,
                    "msg_type": "join"
                }
                await self.ws.send(json.dumps(subscribe_msg))
                logger.info(f"Resubscribed to: {channel}")

            # Reset reconnect counter on success
            self.reconnect_attempt = 0

            # Resume listening
            await self.listen()

    async def disconnect(self):
        """Gracefully disconnect"""
        self.running = False
        if self.ws:
            await self.ws.close()
            logger.info("WebSocket disconnected")

    def get_stats(self) -> Dict[str, Any]:
        """Get connection statistics"""
        return {
            "connected": self.ws is not None and self.ws.open,
            "running": self.running,
            "reconnect_attempts": self.reconnect_attempt,
            "subscribed_channels": list(self.message_handlers.keys()),
            "channel_count": len(self.message_handlers)
        }


# ============================================================================
# Backend - Part 2: Connection Manager (/backend/services/ws_connection_manager.py)
# ============================================================================

class WebSocketConnectionManager:
    """
    Manages multiple client WebSocket connections.
    Broadcasts messages from UW to connected frontend clients.
    """

    def __init__(self):
        # Map: channel -> set of WebSocket connections
        self.active_connections: Dict[str, Set[WebSocket]] = {}
        self.lock = asyncio.Lock()

    async def connect(self, websocket: WebSocket, channel: str):
        """Register new client connection"""
        await websocket.accept()

        async with self.lock:
            if channel not in self.active_connections:
                self.active_connections[channel] = set()

            self.active_connections[channel].add(websocket)
            logger.info(f"Client connected to {channel}. Total: {len(self.active_connections[channel])}")

    async def disconnect(self, websocket: WebSocket, channel: str):
        """Remove client connection"""
        async with self.lock:
            if channel in self.active_connections:
                self.active_connections[channel].discard(websocket)

                # Clean up empty channels
                if len(self.active_connections[channel]) == 0:
                    del self.active_connections[channel]

        logger.info(f"Client disconnected from {channel}")

    async def broadcast(self, channel: str, message: dict):
        """
        Broadcast message to all clients subscribed to channel
        """
        if channel not in self.active_connections:
            return

        # Create list to avoid modification during iteration
        connections = list(self.active_connections[channel])

        # Send to all clients
        for connection in connections:
            try:
                await connection.send_json(message)
            except Exception as e:
                logger.error(f"Failed to send to client: {e}")
                # Remove dead connection
                await self.disconnect(connection, channel)

    def get_connection_count(self, channel: str = None) -> int:
        """Get number of active connections"""
        if channel:
            return len(self.active_connections.get(channel, set()))
        else:
            return sum(len(conns) for conns in self.active_connections.values())

    def get_stats(self) -> Dict[str, int]:
        """Get statistics for all channels"""
        return {
            channel: len(connections)
            for channel, connections in self.active_connections.items()
        }


# Global singleton instance
ws_manager = WebSocketConnectionManager()

# ============================================================================
# Backend - Part 3: API Endpoints (/backend/routers/stream.py)
# ============================================================================

router = APIRouter(prefix="/api/stream", tags=["stream"])

# Global UW WebSocket client (singleton)
uw_client: UWWebSocketClient = None


@router.on_event("startup")
async def startup_websocket():
    """Initialize UW WebSocket client on app startup"""
    global uw_client

    uw_api_token = os.getenv("UW_API_TOKEN") or os.getenv("UW_KEY")
    if not uw_api_token:
        logger.warning("UW_API_TOKEN not set, WebSocket streaming disabled")
        return

    uw_client = UWWebSocketClient(uw_api_token)
    success = await uw_client.connect()

    if success:
        # Start listening in background
        asyncio.create_task(uw_client.listen())
        logger.info("UW WebSocket client started")
    else:
        logger.error("Failed to start UW WebSocket client")


@router.on_event("shutdown")
async def shutdown_websocket():
    """Cleanup on app shutdown"""
    global uw_client
    if uw_client:
        await uw_client.disconnect()


@router.websocket("/ws/flow")
async def stream_flow_alerts(websocket: WebSocket):
    """
    Stream real-time options flow alerts
    """
    channel = "flow-alerts"

    # Connect client
    await ws_manager.connect(websocket, channel)

    # Define message handler
    async def flow_handler(ch: str, payload: dict):
        await ws_manager.broadcast(channel, {
            "channel": ch,
            "timestamp": datetime.now().isoformat(),
            "data": payload
        })

    # Subscribe to UW channel
    if uw_client:
        await uw_client.subscribe(channel, flow_handler)

    try:
        # Keep connection alive
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        await ws_manager.disconnect(websocket, channel)
        if uw_client and ws_manager.get_connection_count(channel) == 0:
            # Unsubscribe if no more clients
            await uw_client.unsubscribe(channel)


@router.get("/status")
async def websocket_status():
    """Get WebSocket connection status"""
    if not uw_client:
        return {
            "status": "disabled",
            "message": "WebSocket client not initialized"
        }

    stats = uw_client.get_stats()
    connection_stats = ws_manager.get_stats()

    return {
        "status": "connected" if stats["connected"] else "disconnected",
        "uw_connection": stats,
        "client_connections": connection_stats,
        "total_clients": ws_manager.get_connection_count()
    }


app = FastAPI()
app.include_router(router)

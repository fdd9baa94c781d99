"""Jaeger's and Zipkin's Thrift types, generated from testdata/idl/thrift into thrift_gen/ (see
its README.md), and the encodings the tests send with them: a Thrift struct on its own (the
collector's HTTP body, Zipkin v1 Thrift) and an agent `emitBatch` datagram."""

from __future__ import annotations

import sys
from pathlib import Path

from thrift.Thrift import TMessageType, TType
from thrift.transport import TTransport

GENERATED = Path(__file__).with_name("thrift_gen")
if str(GENERATED) not in sys.path:
    sys.path.insert(0, str(GENERATED))

from agent import Agent  # noqa: E402  (needs GENERATED on the path)
from jaeger import ttypes as jaeger  # noqa: E402
from zipkincore import ttypes as zipkincore  # noqa: E402

__all__ = ["Agent", "jaeger", "zipkincore", "serialize", "emit_batch_datagram", "zipkin_v1_body"]


def serialize(obj, protocol_class) -> bytes:
    buffer = TTransport.TMemoryBuffer()
    obj.write(protocol_class(buffer))
    return buffer.getvalue()


def emit_batch_datagram(batch, protocol_class) -> bytes:
    """An agent `emitBatch` oneway call, framed as the Agent client frames it."""
    buffer = TTransport.TMemoryBuffer()
    protocol = protocol_class(buffer)
    protocol.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 1)
    Agent.emitBatch_args(batch=batch).write(protocol)
    protocol.writeMessageEnd()
    return buffer.getvalue()


def zipkin_v1_body(spans, protocol_class) -> bytes:
    """`POST /api/v1/spans` with `application/x-thrift`: a Thrift list of zipkincore spans."""
    buffer = TTransport.TMemoryBuffer()
    protocol = protocol_class(buffer)
    protocol.writeListBegin(TType.STRUCT, len(spans))
    for span in spans:
        span.write(protocol)
    protocol.writeListEnd()
    return buffer.getvalue()

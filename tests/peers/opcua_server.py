#!/usr/bin/env python3
"""OPC UA test server for illunare's OPC UA source connector (sources/opcua/tests).

A real server we did not write (python `asyncua`), with a deterministic address space:

  Objects/
    Types/            one variable per OPC UA scalar type, node ids ns=2;s=<TypeName>
                      (Boolean, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64,
                      Float, Double, String, DateTime, Guid, ByteString, XmlElement, NodeId,
                      StatusCode, QualifiedName, LocalizedText) plus DoubleArray (Double[]),
                      NoSourceTs (a Double 7.0 without SourceTimestamp, ServerTimestamp 2024-05-06T07:08:09Z) and
                      Uncertain (a Double with status UncertainLastUsableValue)
    Counter           ns=2;s=Counter, a Double incremented by 1 every 100 ms (1, 2, 3, ...)
    Vibration         ns=2;s=Vibration, a Double every 100 ms: 10.0, 10.1, 10.2 repeating, and 100.0
                      on every 50th tick (a spike a z-score must catch; pipelines/sensor_anomaly.sql)
    Steps             ns=2;s=Steps, a Double that moves every 100 ms by +1 then +5 alternately
                      (1, 6, 7, 12, 13, 18, ...): only the +5 moves pass a deadband of 3
    Plant/
      Line1/Temperature ns=2;s=Plant.Line1.Temperature (21.5), Line1/Pressure (1.5)
      Line2/Temperature ns=2;s=Plant.Line2.Temperature (22.5)
      Area/Line3/Temperature ns=2;s=Plant.Area.Line3.Temperature (23.5)

Namespace 2 is "urn:illunare:test". Prints READY on stdout once it listens.

Usage: opcua_server.py --port P [--security none|basic256sha256] [--user U --password PW]
                       [--user-cert-auth] [--cert-dir DIR]
With --security basic256sha256 only Basic256Sha256 Sign / SignAndEncrypt endpoints are
offered; the server certificate (self-signed, made with `cryptography` when DIR has none) is
DIR/server_cert.der with key DIR/server_key.pem, so a restarted server keeps its identity.
With --user, only user name authentication is accepted (anonymous is refused). With
--user-cert-auth, only the user certificate DIR/user_cert.der (key DIR/user_key.pem, made when
missing) is accepted as identity.
"""

import argparse
import asyncio
import datetime
import ipaddress
import os
import sys
import uuid

from asyncua import Server, ua
from cryptography.hazmat.primitives import serialization
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

APP_URI = "urn:illunare:test-server"
NS_URI = "urn:illunare:test"


class OneCertificate(UserManager):
    """Accepts exactly one user certificate (X509 identity token)."""

    def __init__(self, der):
        self.der = der

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if certificate is None:
            return None
        der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(serialization.Encoding.DER)
        if der == self.der:
            return User(role=UserRole.User, name="certificate user")
        return None


class OneUser(UserManager):
    def __init__(self, user, password):
        self.user = user
        self.password = password

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username == self.user and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


def ensure_certificate(cert_dir, stem="server", common_name="illunare test server", uri=APP_URI):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(cert_dir, exist_ok=True)
    cert_path = os.path.join(cert_dir, f"{stem}_cert.der")
    key_path = os.path.join(cert_dir, f"{stem}_key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "illunare tests"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(uri),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=True,
            data_encipherment=True, key_agreement=False, key_cert_sign=True, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([
            ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.DER))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ))
    return cert_path, key_path


SCALARS = [
    ("Boolean", True, ua.VariantType.Boolean),
    ("SByte", -8, ua.VariantType.SByte),
    ("Byte", 200, ua.VariantType.Byte),
    ("Int16", -1234, ua.VariantType.Int16),
    ("UInt16", 54321, ua.VariantType.UInt16),
    ("Int32", -123456, ua.VariantType.Int32),
    ("UInt32", 3000000000, ua.VariantType.UInt32),
    ("Int64", -9000000000, ua.VariantType.Int64),
    ("UInt64", 18000000000000000000, ua.VariantType.UInt64),
    ("Float", 1.5, ua.VariantType.Float),
    ("Double", 3.25, ua.VariantType.Double),
    ("String", "hello, opc ua", ua.VariantType.String),
    ("DateTime", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc), ua.VariantType.DateTime),
    ("Guid", uuid.UUID("12345678-1234-5678-1234-567812345678"), ua.VariantType.Guid),
    ("ByteString", b"\x01\x02\xff", ua.VariantType.ByteString),
    ("XmlElement", ua.XmlElement("<a>1</a>"), ua.VariantType.XmlElement),
    ("NodeId", ua.NodeId("Target", 2), ua.VariantType.NodeId),
    ("StatusCode", ua.StatusCode(ua.StatusCodes.BadOutOfRange), ua.VariantType.StatusCode),
    ("QualifiedName", ua.QualifiedName("Q", 2), ua.VariantType.QualifiedName),
    ("LocalizedText", ua.LocalizedText("Warm", "en"), ua.VariantType.LocalizedText),
]


async def write(server, node, value):
    """A new Double value for `node`, stamped now at the source and the server."""
    now = datetime.datetime.now(datetime.timezone.utc)
    await server.write_attribute_value(
        node.nodeid, ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=now, ServerTimestamp=now)
    )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=["none", "basic256sha256"], default="none")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert-dir")
    parser.add_argument("--user-cert-auth", action="store_true")
    args = parser.parse_args()

    user_manager = OneUser(args.user, args.password) if args.user else None
    if args.user_cert_auth:
        cert_dir = args.cert_dir or os.path.join(os.getcwd(), "opcua-server-pki")
        user_cert, _ = ensure_certificate(cert_dir, "user", "illunare test user", "urn:illunare:test-user")
        with open(user_cert, "rb") as f:
            user_manager = OneCertificate(f.read())
    server = Server(user_manager=user_manager)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{args.port}/")
    server.set_server_name("illunare test server")
    await server.set_application_uri(APP_URI)
    if args.security == "none":
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    else:
        server.set_security_policy([
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ua.SecurityPolicyType.Basic256Sha256_Sign,
        ])
    if args.cert_dir or args.security != "none":
        cert_dir = args.cert_dir or os.path.join(os.getcwd(), "opcua-server-pki")
        cert_path, key_path = ensure_certificate(cert_dir)
        await server.load_certificate(cert_path)
        await server.load_private_key(key_path)
    if args.user_cert_auth:
        server.set_identity_tokens([ua.X509IdentityToken])
    elif args.user:
        server.set_identity_tokens([ua.UserNameIdentityToken])
    else:
        server.set_identity_tokens([ua.AnonymousIdentityToken])

    idx = await server.register_namespace(NS_URI)
    objects = server.nodes.objects

    types = await objects.add_folder(ua.NodeId("Types", idx), ua.QualifiedName("Types", idx))
    for name, value, vtype in SCALARS:
        await types.add_variable(ua.NodeId(name, idx), ua.QualifiedName(name, idx), ua.Variant(value, vtype))
    await types.add_variable(
        ua.NodeId("DoubleArray", idx), ua.QualifiedName("DoubleArray", idx),
        ua.Variant([1.0, 2.5, -3.0], ua.VariantType.Double),
    )
    no_ts = await types.add_variable(
        ua.NodeId("NoSourceTs", idx), ua.QualifiedName("NoSourceTs", idx), ua.Variant(7.0, ua.VariantType.Double)
    )
    await server.write_attribute_value(
        no_ts.nodeid, ua.DataValue(
            ua.Variant(7.0, ua.VariantType.Double),
            SourceTimestamp=None,
            ServerTimestamp=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
        ),
    )
    uncertain = await types.add_variable(
        ua.NodeId("Uncertain", idx), ua.QualifiedName("Uncertain", idx), ua.Variant(5.0, ua.VariantType.Double)
    )
    await server.write_attribute_value(
        uncertain.nodeid,
        ua.DataValue(
            ua.Variant(5.0, ua.VariantType.Double),
            StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
            SourceTimestamp=datetime.datetime.now(datetime.timezone.utc),
        ),
    )

    counter = await objects.add_variable(
        ua.NodeId("Counter", idx), ua.QualifiedName("Counter", idx), ua.Variant(0.0, ua.VariantType.Double)
    )

    steps = await objects.add_variable(
        ua.NodeId("Steps", idx), ua.QualifiedName("Steps", idx), ua.Variant(0.0, ua.VariantType.Double)
    )

    vibration = await objects.add_variable(
        ua.NodeId("Vibration", idx), ua.QualifiedName("Vibration", idx), ua.Variant(10.0, ua.VariantType.Double)
    )

    plant = await objects.add_folder(ua.NodeId("Plant", idx), ua.QualifiedName("Plant", idx))
    line1 = await plant.add_object(ua.NodeId("Plant.Line1", idx), ua.QualifiedName("Line1", idx))
    line2 = await plant.add_object(ua.NodeId("Plant.Line2", idx), ua.QualifiedName("Line2", idx))
    area = await plant.add_folder(ua.NodeId("Plant.Area", idx), ua.QualifiedName("Area", idx))
    line3 = await area.add_object(ua.NodeId("Plant.Area.Line3", idx), ua.QualifiedName("Line3", idx))
    for parent, path, name, value in [
        (line1, "Plant.Line1", "Temperature", 21.5),
        (line1, "Plant.Line1", "Pressure", 1.5),
        (line2, "Plant.Line2", "Temperature", 22.5),
        (line3, "Plant.Area.Line3", "Temperature", 23.5),
    ]:
        await parent.add_variable(
            ua.NodeId(f"{path}.{name}", idx), ua.QualifiedName(name, idx), ua.Variant(value, ua.VariantType.Double)
        )

    async with server:
        print("READY", flush=True)
        value = 0.0
        step_value = 0.0
        tick = 0
        while True:
            await asyncio.sleep(0.1)
            tick += 1
            value += 1.0
            step_value += 1.0 if tick % 2 == 1 else 5.0
            await write(server, steps, step_value)
            await write(server, vibration, 100.0 if tick % 50 == 0 else 10.0 + 0.1 * (tick % 3))
            await write(server, counter, value)

if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

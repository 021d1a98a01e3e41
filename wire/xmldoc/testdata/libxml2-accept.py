# Does libxml2 accept each document as namespace-well-formed XML, and what is
# the exclusive canonical form (without comments) of its root element? Used by
# accept_differential_test.go to compare xmldoc.Parse's verdicts with a
# parser scproxy's peers agree with. Needs only libxml2.so.2 (ships with
# xmllint), through ctypes.
#
# stdin:  JSON list of documents (strings)
# stdout: JSON list of {"ok": bool, "errors": [str], "c14n": str | null}
import ctypes
import json
import sys

lib = ctypes.CDLL("libxml2.so.2")


class XmlError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_int), ("code", ctypes.c_int), ("message", ctypes.c_char_p), ("level", ctypes.c_int)]


ERROR_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(XmlError))
errors = []


@ERROR_FUNC
def on_error(_, err):
    if err.contents.level >= 2:  # XML_ERR_ERROR and XML_ERR_FATAL; warnings do not count
        errors.append((err.contents.message or b"").decode(errors="replace").strip())


lib.xmlSetStructuredErrorFunc(None, on_error)
lib.xmlReadMemory.restype = ctypes.c_void_p
lib.xmlReadMemory.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
lib.xmlC14NDocDumpMemory.restype = ctypes.c_int
lib.xmlC14NDocDumpMemory.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
lib.xmlXPathNewContext.restype = ctypes.c_void_p
lib.xmlXPathNewContext.argtypes = [ctypes.c_void_p]
lib.xmlXPathEvalExpression.restype = ctypes.c_void_p
lib.xmlXPathEvalExpression.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
lib.xmlXPathFreeObject.argtypes = [ctypes.c_void_p]
lib.xmlXPathFreeContext.argtypes = [ctypes.c_void_p]

# The root element's node-set, so that PIs and comments outside it (part of
# a whole document's canonical form) are left out, as Exclusive(root) does.
ROOT = b"(/*/descendant-or-self::node() | /*/descendant-or-self::*/@* | /*/descendant-or-self::*/namespace::*)"
lib.xmlFreeDoc.argtypes = [ctypes.c_void_p]
xml_free = ctypes.cast(ctypes.c_void_p.in_dll(lib, "xmlFree"), ctypes.CFUNCTYPE(None, ctypes.c_void_p))

XML_PARSE_NONET = 1 << 11


def check(src):
    del errors[:]
    b = src.encode("utf-8", "surrogateescape")
    doc = lib.xmlReadMemory(b, len(b), b"doc.xml", None, XML_PARSE_NONET)
    res = {"ok": bool(doc) and not errors, "errors": list(errors), "c14n": None}
    if doc:
        ctx = lib.xmlXPathNewContext(doc)
        obj = lib.xmlXPathEvalExpression(ROOT, ctx)
        nodes = ctypes.c_void_p.from_address(obj + ctypes.sizeof(ctypes.c_void_p)).value if obj else None
        out = ctypes.c_void_p()
        n = lib.xmlC14NDocDumpMemory(doc, nodes, 1, None, 0, ctypes.byref(out)) if nodes else -1
        if n >= 0:
            res["c14n"] = ctypes.string_at(out, n).decode("utf-8", "surrogateescape")
        if out:
            xml_free(out)
        if obj:
            lib.xmlXPathFreeObject(obj)
        lib.xmlXPathFreeContext(ctx)
        lib.xmlFreeDoc(doc)
    return res


json.dump([check(s) for s in json.load(sys.stdin)], sys.stdout)

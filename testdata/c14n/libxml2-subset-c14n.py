# Exclusive C14N of a subtree in document context by libxml2 itself, through
# ctypes (no lxml needed: only the libxml2.so.2 that ships with xmllint).
#
# xmllint canonicalizes whole documents only and lxml drops "#default" from
# inclusive_ns_prefixes, so this script builds the XML-DSig style node-set
# (apex/descendant-or-self::node() plus their attributes and namespace nodes)
# with libxml2's XPath and hands it to xmlC14NDocDumpMemory in exclusive mode
# with the PrefixList as given ("#default" included), comments excluded.
#
# stdin:  JSON list of {"src": str, "path": [int] | null, "inclusive": [str] | null}
#         path = child-element indexes from the root (0-based); null = the root.
# stdout: JSON list, one {"c14n": str} or {"error": str} per request.
import ctypes
import json
import sys

lib = ctypes.CDLL("libxml2.so.2")
lib.xmlReadMemory.restype = ctypes.c_void_p
lib.xmlReadMemory.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
lib.xmlXPathNewContext.restype = ctypes.c_void_p
lib.xmlXPathNewContext.argtypes = [ctypes.c_void_p]
lib.xmlXPathEvalExpression.restype = ctypes.c_void_p
lib.xmlXPathEvalExpression.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
lib.xmlC14NDocDumpMemory.restype = ctypes.c_int
lib.xmlC14NDocDumpMemory.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
    ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
lib.xmlXPathFreeObject.argtypes = [ctypes.c_void_p]
lib.xmlXPathFreeContext.argtypes = [ctypes.c_void_p]
lib.xmlFreeDoc.argtypes = [ctypes.c_void_p]
xml_free = ctypes.cast(ctypes.c_void_p.in_dll(lib, "xmlFree"), ctypes.CFUNCTYPE(None, ctypes.c_void_p))

XML_PARSE_NONET = 1 << 11
EXCLUSIVE_1_0 = 1


def canonicalize(src, path, inclusive):
    b = src.encode()
    doc = lib.xmlReadMemory(b, len(b), b"doc.xml", None, XML_PARSE_NONET)
    if not doc:
        return {"error": "libxml2 cannot parse the document"}
    try:
        apex = "/*" + "".join("/*[%d]" % (i + 1) for i in path)
        expr = "(%s/descendant-or-self::node() | %s/descendant-or-self::*/@* | %s/descendant-or-self::*/namespace::*)" % (apex, apex, apex)
        ctx = lib.xmlXPathNewContext(doc)
        obj = lib.xmlXPathEvalExpression(expr.encode(), ctx)
        if not obj:
            lib.xmlXPathFreeContext(ctx)
            return {"error": "xpath"}
        # xmlXPathObject: int type; xmlNodeSetPtr nodesetval; ... (64-bit layout)
        nodes = ctypes.c_void_p.from_address(obj + ctypes.sizeof(ctypes.c_void_p)).value
        prefixes = None
        if inclusive is not None:
            prefixes = (ctypes.c_char_p * (len(inclusive) + 1))(*[p.encode() for p in inclusive], None)
        out = ctypes.c_void_p()
        n = lib.xmlC14NDocDumpMemory(doc, nodes, EXCLUSIVE_1_0, prefixes, 0, ctypes.byref(out))
        res = {"error": "xmlC14NDocDumpMemory failed"} if n < 0 else {"c14n": ctypes.string_at(out, n).decode()}
        if out:
            xml_free(out)
        lib.xmlXPathFreeObject(obj)
        lib.xmlXPathFreeContext(ctx)
        return res
    finally:
        lib.xmlFreeDoc(doc)


json.dump([canonicalize(r["src"], r.get("path") or [], r.get("inclusive")) for r in json.load(sys.stdin)], sys.stdout)

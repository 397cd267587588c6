from retrieval.sparse import SparseEncoder, term_id
from retrieval.terms import detect_language, terms


def test_english_terms_are_stemmed_and_stopwords_dropped():
    assert list(terms("The gateways are running on port 8443")) == ["gateway", "run", "port", "8443"]


def test_chinese_is_segmented_with_jieba_and_digits_split_from_han():
    got = list(terms("报销单必须在出差结束后15个工作日内提交"))
    assert "报销" in got and "出差" in got and "工作日" in got and "15" in got
    assert "的" not in list(terms("公司的制度"))


def test_mixed_text_keeps_both_scripts():
    got = list(terms("VPN网关的端口是8443"))
    assert got[0] == "vpn" and "网关" in got and "端口" in got and "8443" in got


def test_language_detection():
    assert detect_language("年假最多可结转五天，需在次年三月底前休完。") == "zh"
    assert detect_language("Annual leave carries over up to five days.") == "en"
    assert detect_language("") == "en"


def test_term_ids_are_stable_across_processes():
    # blake2b, not Python's salted hash(): the same term must map to the same sparse index everywhere.
    assert term_id("vpn") == 930041889
    assert term_id("vpn") != term_id("vpns")


def test_bm25_document_weights_saturate_and_query_is_binary():
    enc = SparseEncoder(k1=1.2, b=0.75, avgdl=10)
    doc = enc.encode_document("vpn vpn vpn gateway")
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[term_id("vpn")] > weights[term_id("gateway")]
    assert weights[term_id("vpn")] < 3 * weights[term_id("gateway")]  # tf saturates
    assert doc.indices == sorted(doc.indices)
    query = enc.encode_query("VPN gateway gateway")
    assert query.values == [1.0, 1.0] and set(query.indices) == {term_id("vpn"), term_id("gateway")}


def test_stopword_only_query_has_no_terms():
    assert SparseEncoder().encode_query("the of and").indices == []

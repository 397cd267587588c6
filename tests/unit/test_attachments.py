from ingest.attachments import attachment_source, attachment_title, owner_source, safe_name
from ingest.documents import Attachment


def test_an_attachment_name_cannot_leave_its_folder():
    assert safe_name("../../etc/passwd", 1) == "passwd"
    assert safe_name("C:\\Users\\ann\\预算 Q3.xlsx", 2) == "预算 Q3.xlsx"
    assert safe_name("..", 3) == "attachment-3" and safe_name("", 4) == "attachment-4"
    assert safe_name("a/b:c?.pdf", 5) == "b_c_.pdf"


def test_an_attachment_belongs_to_its_message_file():
    source = attachment_source("/mail/q3.eml", Attachment(2, "budget.pdf"))
    assert source == "/mail/q3.eml#attachment/2-budget.pdf"
    assert owner_source(source) == "/mail/q3.eml" and owner_source("/mail/q3.eml") == "/mail/q3.eml"
    assert attachment_title(Attachment(2, "budget.pdf"), "季度预算") == "budget.pdf — 季度预算"
    assert attachment_title(Attachment(1, "a.txt"), "") == "a.txt"

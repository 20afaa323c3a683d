"""Reports: Excel workbooks, the HTML report, charts, compliance and inspection workbooks.

Owns what a planner receives as tables: workbooks with Chinese headers and print setup, the
self-contained HTML report, charts with Chinese fonts, the standards/indicator compliance workbook
and the boundary-inspection workbook and archive. Formats results; computes nothing. Uses ``maps``,
``io`` and the analysis subpackages' result types.
"""

from geoplan.report.boundary import (
    archive_by_line,
    findings_layer,
    inspection_sheets,
    write_findings_kml,
    write_inspection_workbook,
)
from geoplan.report.charts import bar_chart, figure_data_uri, stacked_bar_chart, use_chinese_font
from geoplan.report.compliance import (
    compliance_sheets,
    tables_from_results,
    write_compliance_workbook,
)
from geoplan.report.writers import (
    COLUMN_NAMES_ZH,
    INTEGER_FORMAT,
    PERCENT_FORMAT,
    ReportSection,
    display_width,
    header_text,
    table_html,
    write_html_report,
    write_pdf_report,
    write_workbook,
)

__all__ = [
    "COLUMN_NAMES_ZH",
    "INTEGER_FORMAT",
    "PERCENT_FORMAT",
    "ReportSection",
    "archive_by_line",
    "bar_chart",
    "compliance_sheets",
    "display_width",
    "figure_data_uri",
    "findings_layer",
    "header_text",
    "inspection_sheets",
    "stacked_bar_chart",
    "table_html",
    "tables_from_results",
    "use_chinese_font",
    "write_compliance_workbook",
    "write_findings_kml",
    "write_html_report",
    "write_inspection_workbook",
    "write_pdf_report",
    "write_workbook",
]

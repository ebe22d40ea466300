{% test low_under_open_close(model) %}
select * from {{ model }} where low > least(open, close)
{% endtest %}

{% test high_covers_open_close(model) %}
select * from {{ model }} where high < greatest(open, close)
{% endtest %}

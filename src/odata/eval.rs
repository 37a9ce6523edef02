//! Evaluating a `$filter` against typed entities, and checking it against their schema first.
//!
//! Entities expose their properties through `Queryable` without rendering to JSON, so a filter
//! over ten thousand packages costs a property lookup per row, not a serialization. Complex and
//! collection properties come back as JSON and lambdas walk them.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;
use uuid::Uuid;

use super::filter::{CmpOp, Expr, FilterError, Func, Literal, Quantifier};
use crate::clock::Timestamp;
use crate::model::ApiVersion;
use crate::store::TenantState;

/// The type of a property, for checking filters before they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Guid,
    Bool,
    Date,
    Enum,
    Int,
    /// A complex value or a collection, walked as JSON.
    Json,
    /// A single-valued navigation to another entity type (`catalog`, `accessPackage`).
    Nav(&'static str),
    /// A collection-valued navigation (only `$expand`-able).
    NavMany(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
}

pub const fn field(name: &'static str, ty: Ty) -> Field {
    Field { name, ty }
}

/// A property value, borrowed from the entity where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop<'a> {
    Null,
    Bool(bool),
    Str(Cow<'a, str>),
    /// Enum members compare case-insensitively (docs filter `state eq 'Delivered'`).
    Enum(Cow<'a, str>),
    Guid(Uuid),
    Int(i64),
    Float(f64),
    Date(Timestamp),
    Json(Cow<'a, Value>),
}

/// What evaluation can see besides the entity.
#[derive(Debug, Clone, Copy)]
pub struct EvalCx<'s> {
    pub state: &'s TenantState,
    pub version: ApiVersion,
}

/// An entity type the query engine can filter, order, select and expand.
pub trait Queryable {
    /// `microsoft.graph.accessPackage`, for error messages.
    const TYPE_NAME: &'static str;
    /// The properties of this type in `version`, by wire name.
    fn fields(version: ApiVersion) -> &'static [Field];
    /// The value of a field (named exactly as in `fields`). For a `Nav` field the value is the
    /// related entity's JSON (`Prop::Json`) or, when only its id is wanted, see `nav_id`.
    fn value<'a>(&'a self, field: &str, cx: &EvalCx<'a>) -> Prop<'a>;
    /// The id of a single-valued navigation, without rendering the related entity.
    fn nav_id(&self, _field: &str) -> Option<Uuid> {
        None
    }
}

pub fn find_field(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    // Names usually arrive in the schema's own casing; exact compares are cheaper per row.
    fields
        .iter()
        .find(|f| f.name == name)
        .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
}

fn unknown_property(name: &str, type_name: &str) -> FilterError {
    FilterError(format!(
        "Could not find a property named '{name}' on type '{type_name}'."
    ))
}

/// Checks names and literal types against the schema (ASP.NET OData binds before it runs):
/// unknown properties and malformed GUID literals compared with GUID properties are errors.
pub fn check<T: Queryable>(expr: &Expr, version: ApiVersion) -> Result<(), FilterError> {
    let fields = T::fields(version);
    check_in(expr, fields, T::TYPE_NAME, &[])?;
    if !boolean(expr, fields) {
        return Err(FilterError(
            "The $filter expression must evaluate to a single boolean value.".into(),
        ));
    }
    Ok(())
}

fn boolean(expr: &Expr, fields: &'static [Field]) -> bool {
    match expr {
        Expr::Literal(l) => matches!(l, Literal::Bool(_)),
        Expr::Path(p) => {
            p.len() == 1 && find_field(fields, &p[0]).is_some_and(|f| f.ty == Ty::Bool)
        }
        Expr::Call(f, _) => matches!(f, Func::Contains | Func::StartsWith | Func::EndsWith),
        Expr::Compare(..)
        | Expr::In(..)
        | Expr::Not(_)
        | Expr::And(..)
        | Expr::Or(..)
        | Expr::Lambda { .. } => true,
    }
}

fn path_type(
    path: &[String],
    fields: &'static [Field],
    type_name: &str,
    vars: &[&str],
) -> Result<Option<Ty>, FilterError> {
    let Some(first) = path.first() else {
        return Ok(None);
    };
    if vars.iter().any(|v| v.eq_ignore_ascii_case(first)) || first.starts_with('$') {
        return Ok(None);
    }
    let f = find_field(fields, first).ok_or_else(|| unknown_property(first, type_name))?;
    Ok(match (f.ty, path.len()) {
        (ty, 1) => Some(ty),
        (Ty::Nav(_), 2) if path[1].eq_ignore_ascii_case("id") => Some(Ty::Guid),
        _ => None,
    })
}

fn check_in(
    expr: &Expr,
    fields: &'static [Field],
    type_name: &str,
    vars: &[&str],
) -> Result<(), FilterError> {
    match expr {
        Expr::Literal(_) => Ok(()),
        Expr::Path(p) => path_type(p, fields, type_name, vars).map(|_| ()),
        Expr::Lambda {
            path, var, body, ..
        } => {
            path_type(path, fields, type_name, vars)?;
            match (var, body) {
                (Some(v), Some(b)) => {
                    let mut inner: Vec<&str> = vars.to_vec();
                    inner.push(v);
                    check_in(b, fields, type_name, &inner)
                }
                _ => Ok(()),
            }
        }
        Expr::Call(func, args) => {
            args.iter()
                .try_for_each(|a| check_in(a, fields, type_name, vars))?;
            // Every function here takes strings only: `contains(displayName, 1)` has no
            // matching signature in ASP.NET OData.
            for a in args {
                let ty = static_type(a, fields, type_name, vars)?;
                if ty.is_some_and(|t| t != Static::String && t != Static::Enum) {
                    return Err(no_signature(*func));
                }
            }
            Ok(())
        }
        Expr::Not(e) => check_in(e, fields, type_name, vars),
        Expr::And(terms) | Expr::Or(terms) => terms
            .iter()
            .try_for_each(|t| check_in(t, fields, type_name, vars)),
        Expr::Compare(op, a, b) => {
            check_in(a, fields, type_name, vars)?;
            check_in(b, fields, type_name, vars)?;
            comparable(*op, a, b, fields, type_name, vars)?;
            guid_literals(a, b, fields, type_name, vars)?;
            guid_literals(b, a, fields, type_name, vars)
        }
        Expr::In(a, items) => {
            check_in(a, fields, type_name, vars)?;
            for item in items {
                check_in(item, fields, type_name, vars)?;
                comparable(CmpOp::Eq, a, item, fields, type_name, vars)?;
                guid_literals(a, item, fields, type_name, vars)?;
            }
            Ok(())
        }
    }
}

/// The type an operand has before it runs, where the schema or the literal says; `None` for
/// `null`, lambda variables and complex values, which ASP.NET OData types loosely here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Static {
    String,
    Guid,
    Boolean,
    DateTimeOffset,
    Enum,
    Int,
    Double,
}

impl Static {
    fn edm(self) -> &'static str {
        match self {
            Static::String | Static::Enum => "Edm.String",
            Static::Guid => "Edm.Guid",
            Static::Boolean => "Edm.Boolean",
            Static::DateTimeOffset => "Edm.DateTimeOffset",
            Static::Int => "Edm.Int32",
            Static::Double => "Edm.Double",
        }
    }

    /// Whether ASP.NET OData binds `self op other` (numbers widen; enums take their names as
    /// strings; EM takes GUIDs quoted, whose format `guid_literals` checks).
    fn compatible(self, other: Static) -> bool {
        use Static::*;
        self == other
            || matches!(
                (self, other),
                (String, Enum)
                    | (Enum, String)
                    | (Guid, String)
                    | (String, Guid)
                    | (Int, Double)
                    | (Double, Int)
            )
    }
}

fn static_type(
    e: &Expr,
    fields: &'static [Field],
    type_name: &str,
    vars: &[&str],
) -> Result<Option<Static>, FilterError> {
    Ok(match e {
        Expr::Literal(l) => match l {
            Literal::Null => None,
            Literal::Bool(_) => Some(Static::Boolean),
            Literal::Str(_) => Some(Static::String),
            Literal::Int(_) => Some(Static::Int),
            Literal::Float(_) => Some(Static::Double),
            Literal::Guid(_) => Some(Static::Guid),
            Literal::Date(_) => Some(Static::DateTimeOffset),
        },
        Expr::Path(p) => match path_type(p, fields, type_name, vars)? {
            Some(Ty::Str) => Some(Static::String),
            Some(Ty::Guid) => Some(Static::Guid),
            Some(Ty::Bool) => Some(Static::Boolean),
            Some(Ty::Date) => Some(Static::DateTimeOffset),
            Some(Ty::Enum) => Some(Static::Enum),
            Some(Ty::Int) => Some(Static::Int),
            Some(Ty::Json | Ty::Nav(_) | Ty::NavMany(_)) | None => None,
        },
        Expr::Call(Func::ToLower | Func::ToUpper, _) => Some(Static::String),
        Expr::Call(..)
        | Expr::Compare(..)
        | Expr::In(..)
        | Expr::Not(_)
        | Expr::And(_)
        | Expr::Or(_)
        | Expr::Lambda { .. } => Some(Static::Boolean),
    })
}

/// `createdDateTime gt 'x'`: ASP.NET OData refuses to bind operands of incompatible types.
fn comparable(
    op: CmpOp,
    a: &Expr,
    b: &Expr,
    fields: &'static [Field],
    type_name: &str,
    vars: &[&str],
) -> Result<(), FilterError> {
    let (Some(left), Some(right)) = (
        static_type(a, fields, type_name, vars)?,
        static_type(b, fields, type_name, vars)?,
    ) else {
        return Ok(());
    };
    if left.compatible(right) {
        return Ok(());
    }
    let kind = match op {
        CmpOp::Eq => "Equal",
        CmpOp::Ne => "NotEqual",
        CmpOp::Gt => "GreaterThan",
        CmpOp::Ge => "GreaterThanOrEqual",
        CmpOp::Lt => "LessThan",
        CmpOp::Le => "LessThanOrEqual",
    };
    Err(FilterError(format!(
        "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{kind}'.",
        left.edm(),
        right.edm()
    )))
}

fn no_signature(func: Func) -> FilterError {
    let (name, params) = match func {
        Func::Contains => ("contains", 2),
        Func::StartsWith => ("startswith", 2),
        Func::EndsWith => ("endswith", 2),
        Func::ToLower => ("tolower", 1),
        Func::ToUpper => ("toupper", 1),
    };
    let signature = vec!["Edm.String Nullable=true"; params].join(", ");
    FilterError(format!(
        "No function signature for the function with name '{name}' matches the specified arguments. The function signatures considered are: {name}({signature})."
    ))
}

/// `accessPackage/id eq 'not-a-guid'` is Graph's `Unrecognized Guid format` (Microsoft365DSC#4032).
fn guid_literals(
    side: &Expr,
    other: &Expr,
    fields: &'static [Field],
    type_name: &str,
    vars: &[&str],
) -> Result<(), FilterError> {
    if let (Expr::Path(p), Expr::Literal(Literal::Str(s))) = (side, other) {
        if path_type(p, fields, type_name, vars)? == Some(Ty::Guid) && Uuid::parse_str(s).is_err() {
            return Err(FilterError("Unrecognized Guid format".into()));
        }
    }
    Ok(())
}

/// A value during evaluation: from the entity, a literal, a lambda element, or a function.
type Val<'a> = Prop<'a>;

struct Scope<'a, 'e, T: Queryable> {
    entity: &'a T,
    cx: &'e EvalCx<'a>,
}

/// Borrows from the parsed query: a scan compares every row with the same literal.
fn literal(l: &Literal) -> Val<'_> {
    match l {
        Literal::Null => Prop::Null,
        Literal::Bool(b) => Prop::Bool(*b),
        Literal::Str(s) => Prop::Str(Cow::Borrowed(s)),
        Literal::Int(i) => Prop::Int(*i),
        Literal::Float(f) => Prop::Float(*f),
        Literal::Guid(g) => Prop::Guid(*g),
        Literal::Date(t) => Prop::Date(*t),
    }
}

/// Case-insensitive key lookup in a JSON object, honouring derived-type casts.
fn json_step<'v>(value: &'v Value, step: &str) -> Option<&'v Value> {
    if step.contains('.') {
        // `microsoft.graph.x`: the value must be of that type.
        let t = value
            .get("@odata.type")
            .and_then(Value::as_str)
            .unwrap_or("");
        return t
            .trim_start_matches('#')
            .eq_ignore_ascii_case(step)
            .then_some(value);
    }
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(step))
        .map(|(_, v)| v)
}

fn from_json(value: &Value) -> Val<'_> {
    match value {
        Value::Null => Prop::Null,
        Value::Bool(b) => Prop::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Prop::Int)
            .unwrap_or_else(|| Prop::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Prop::Str(Cow::Borrowed(s)),
        other => Prop::Json(Cow::Borrowed(other)),
    }
}

fn walk_json<'v>(mut value: &'v Value, steps: &[String]) -> Val<'v> {
    for step in steps {
        match json_step(value, step) {
            Some(v) => value = v,
            None => return Prop::Null,
        }
    }
    from_json(value)
}

impl<'a, 'e, T: Queryable> Scope<'a, 'e, T> {
    fn path(&self, steps: &'e [String]) -> Val<'a>
    where
        'e: 'a,
    {
        let Some(first) = steps.first() else {
            return Prop::Null;
        };
        let fields = T::fields(self.cx.version);
        let Some(f) = find_field(fields, first) else {
            return Prop::Null;
        };
        if steps.len() == 2 && steps[1].eq_ignore_ascii_case("id") {
            if let Some(id) = self.entity.nav_id(f.name) {
                return Prop::Guid(id);
            }
        }
        match self.entity.value(f.name, self.cx) {
            Prop::Json(Cow::Borrowed(v)) => walk_json(v, &steps[1..]),
            Prop::Json(Cow::Owned(v)) => owned(walk_json(&v, &steps[1..])),
            other if steps.len() == 1 => other,
            _ => Prop::Null,
        }
    }

    fn eval(&mut self, expr: &'e Expr) -> Val<'a>
    where
        'e: 'a,
    {
        match expr {
            Expr::Literal(l) => literal(l),
            Expr::Path(p) => self.path(p),
            Expr::Call(func, args) => self.call(*func, args),
            Expr::Compare(op, a, b) => {
                let (a, b) = (self.eval(a), self.eval(b));
                Prop::Bool(compare(*op, &a, &b))
            }
            Expr::In(a, items) => {
                let a = self.eval(a);
                let hit = items.iter().any(|i| {
                    let v = self.eval(i);
                    compare(CmpOp::Eq, &a, &v)
                });
                Prop::Bool(hit)
            }
            Expr::Not(e) => Prop::Bool(!truthy(&self.eval(e))),
            Expr::And(terms) => Prop::Bool(terms.iter().all(|t| truthy(&self.eval(t)))),
            Expr::Or(terms) => Prop::Bool(terms.iter().any(|t| truthy(&self.eval(t)))),
            Expr::Lambda {
                path,
                quantifier,
                var,
                body,
            } => {
                let collection = owned(self.path(path));
                Prop::Bool(lambda(
                    &collection,
                    *quantifier,
                    var.as_deref(),
                    body.as_deref(),
                    &[],
                ))
            }
        }
    }

    fn call(&mut self, func: Func, args: &'e [Expr]) -> Val<'a>
    where
        'e: 'a,
    {
        let vals: Vec<Prop<'static>> = args.iter().map(|a| owned(self.eval(a))).collect();
        call_values(func, vals)
    }
}

/// `any`/`all` over a JSON collection; the body sees only lambda variables (and literals).
fn lambda(
    collection: &Prop<'_>,
    quantifier: Quantifier,
    var: Option<&str>,
    body: Option<&Expr>,
    outer: &[(&str, &Value)],
) -> bool {
    let items: &[Value] = match collection {
        Prop::Json(v) => v.as_array().map(Vec::as_slice).unwrap_or(&[]),
        _ => &[],
    };
    let (Some(var), Some(body)) = (var, body) else {
        // `x/any()` is "not empty"; `x/all()` is vacuously true.
        return match quantifier {
            Quantifier::Any => !items.is_empty(),
            Quantifier::All => true,
        };
    };
    let test = |item: &Value| {
        let mut vars = outer.to_vec();
        vars.push((var, item));
        truthy(&eval_json(body, &vars))
    };
    match quantifier {
        Quantifier::Any => items.iter().any(test),
        Quantifier::All => items.iter().all(test),
    }
}

/// Evaluation inside a lambda body, over the bound elements.
fn eval_json(expr: &Expr, vars: &[(&str, &Value)]) -> Prop<'static> {
    match expr {
        Expr::Literal(l) => owned(literal(l)),
        Expr::Path(p) => {
            let Some(first) = p.first() else {
                return Prop::Null;
            };
            match vars
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(first))
            {
                Some((_, v)) => owned(walk_json(v, &p[1..])),
                None => Prop::Null,
            }
        }
        Expr::Call(func, args) => {
            call_values(*func, args.iter().map(|a| eval_json(a, vars)).collect())
        }
        Expr::Compare(op, a, b) => {
            Prop::Bool(compare(*op, &eval_json(a, vars), &eval_json(b, vars)))
        }
        Expr::In(a, items) => {
            let a = eval_json(a, vars);
            Prop::Bool(
                items
                    .iter()
                    .any(|i| compare(CmpOp::Eq, &a, &eval_json(i, vars))),
            )
        }
        Expr::Not(e) => Prop::Bool(!truthy(&eval_json(e, vars))),
        Expr::And(terms) => Prop::Bool(terms.iter().all(|t| truthy(&eval_json(t, vars)))),
        Expr::Or(terms) => Prop::Bool(terms.iter().any(|t| truthy(&eval_json(t, vars)))),
        Expr::Lambda {
            path,
            quantifier,
            var,
            body,
        } => {
            let collection = eval_json(&Expr::Path(path.clone()), vars);
            Prop::Bool(lambda(
                &collection,
                *quantifier,
                var.as_deref(),
                body.as_deref(),
                vars,
            ))
        }
    }
}

fn owned(p: Prop<'_>) -> Prop<'static> {
    match p {
        Prop::Null => Prop::Null,
        Prop::Bool(b) => Prop::Bool(b),
        Prop::Str(s) => Prop::Str(Cow::Owned(s.into_owned())),
        Prop::Enum(s) => Prop::Enum(Cow::Owned(s.into_owned())),
        Prop::Guid(g) => Prop::Guid(g),
        Prop::Int(i) => Prop::Int(i),
        Prop::Float(f) => Prop::Float(f),
        Prop::Date(t) => Prop::Date(t),
        Prop::Json(v) => Prop::Json(Cow::Owned(v.into_owned())),
    }
}

fn text<'p>(p: &'p Prop<'_>) -> Option<Cow<'p, str>> {
    match p {
        Prop::Str(s) | Prop::Enum(s) => Some(Cow::Borrowed(s)),
        Prop::Guid(g) => Some(Cow::Owned(g.to_string())),
        _ => None,
    }
}

fn call_values(func: Func, vals: Vec<Prop<'static>>) -> Prop<'static> {
    let a = vals.first().and_then(|v| text(v).map(|s| s.into_owned()));
    let b = vals.get(1).and_then(|v| text(v).map(|s| s.into_owned()));
    match (func, a, b) {
        (Func::ToLower, Some(a), _) => Prop::Str(Cow::Owned(a.to_lowercase())),
        (Func::ToUpper, Some(a), _) => Prop::Str(Cow::Owned(a.to_uppercase())),
        (Func::Contains, Some(a), Some(b)) => Prop::Bool(a.contains(b.as_str())),
        (Func::StartsWith, Some(a), Some(b)) => Prop::Bool(a.starts_with(b.as_str())),
        (Func::EndsWith, Some(a), Some(b)) => Prop::Bool(a.ends_with(b.as_str())),
        (Func::ToLower | Func::ToUpper, None, _) => Prop::Null,
        _ => Prop::Bool(false),
    }
}

fn truthy(p: &Prop<'_>) -> bool {
    matches!(p, Prop::Bool(true))
}

/// Orders two values of compatible types; `None` when they cannot be compared.
pub fn order(a: &Prop<'_>, b: &Prop<'_>) -> Option<Ordering> {
    use Prop::*;
    match (a, b) {
        (Null, Null) => Some(Ordering::Equal),
        (Null, _) => Some(Ordering::Less),
        (_, Null) => Some(Ordering::Greater),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Int(x), Float(y)) => (*x as f64).partial_cmp(y),
        (Float(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Date(x), Date(y)) => Some(x.cmp(y)),
        (Guid(x), Guid(y)) => Some(x.cmp(y)),
        (Guid(g), Str(s)) => Uuid::parse_str(s).ok().map(|u| g.cmp(&u)),
        (Str(s), Guid(g)) => Uuid::parse_str(s).ok().map(|u| u.cmp(g)),
        (Enum(x), Enum(y)) | (Enum(x), Str(y)) | (Str(y), Enum(x)) => {
            // Compared without allocating: `state eq 'Delivered'` runs for every row.
            Some(
                x.bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(y.bytes().map(|b| b.to_ascii_lowercase())),
            )
        }
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Date(d), Str(s)) => Timestamp::parse(s).ok().map(|t| d.cmp(&t)),
        (Str(s), Date(d)) => Timestamp::parse(s).ok().map(|t| t.cmp(d)),
        (Json(x), Json(y)) => (x == y).then_some(Ordering::Equal),
        _ => None,
    }
}

fn compare(op: CmpOp, a: &Prop<'_>, b: &Prop<'_>) -> bool {
    let ord = order(a, b);
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        // Ordering comparisons with null are false (OData).
        _ if matches!(a, Prop::Null) || matches!(b, Prop::Null) => false,
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

/// Whether `entity` passes `expr`.
pub fn matches<T: Queryable>(expr: &Expr, entity: &T, cx: &EvalCx<'_>) -> bool {
    let mut scope = Scope { entity, cx };
    truthy(&scope.eval(expr))
}

/// The value of a property path, for `$orderby`.
pub fn path_value<'a, T: Queryable>(
    steps: &'a [String],
    entity: &'a T,
    cx: &'a EvalCx<'a>,
) -> Prop<'a> {
    let scope = Scope { entity, cx };
    scope.path(steps)
}
